"""Every sentence a diagnosis shows the user, in zh-CN and en. Fields are filled by `Text.render`."""

from __future__ import annotations

from agent.i18n import Text

NIC_NONE = Text(
    "没有找到网卡。请检查网卡是否安装，或在设备管理器中查看。",
    "No network adapter found. Check that one is installed and visible to the system.",
)
NIC_NONE_NAMED = Text(
    "没有找到名为 {name} 的网卡。",
    "There is no network adapter named {name}.",
)
NIC_PRESENT = Text(
    "网卡 {name} 存在。",
    "Network adapter {name} is present.",
)
NIC_DISABLED = Text(
    "网卡 {name} 已被禁用。启用它即可恢复。",
    "Network adapter {name} is turned off. Enabling it should help.",
)
NIC_ENABLED = Text(
    "网卡 {name} 已启用。",
    "Network adapter {name} is enabled.",
)
NIC_DRIVER = Text(
    "网卡 {name} 的驱动程序出错（{error}）。重启网卡或重新安装驱动。",
    "The driver of adapter {name} reports a fault ({error}). Restart the adapter or reinstall the driver.",
)
NIC_DRIVER_OK = Text(
    "网卡驱动正常。",
    "The adapter's driver is working.",
)
LINK_DOWN = Text(
    "网线未连接或对端没有信号（{name}）。请检查网线两端和光猫/路由器的指示灯。",
    "No link on {name}: the cable is unplugged or the other end is off. Check the cable and the "
    "modem/router lights.",
)
WIFI_DOWN = Text(
    "无线网卡 {name} 没有连接到任何 Wi-Fi。请选择您的网络并连接。",
    "Wi-Fi adapter {name} is not connected to a network. Pick your network and connect.",
)
LINK_UP = Text(
    "{name} 已连接（有信号）。",
    "{name} has a link.",
)
LINK_UNKNOWN = Text(
    "无法得知 {name} 的连接状态。",
    "The link state of {name} is not known.",
)
IP_NONE = Text(
    "{name} 没有 IPv4 地址。请重新获取地址（DHCP）。",
    "{name} has no IPv4 address. Renewing the DHCP lease should get one.",
)
IP_APIPA = Text(
    "{name} 只有自动分配的地址 {address}：没有从路由器获得地址（DHCP "
    "失败）。请检查路由器，然后重新获取地址。",
    "{name} only has the self-assigned address {address}: the router gave no address (DHCP failed). Check "
    "the router, then renew the lease.",
)
IP_CONFLICT = Text(
    "地址 {address} 与网络中另一台设备冲突。请重新获取地址。",
    "Address {address} is also used by another device on the network. Renew the lease to get another one.",
)
IP_OK = Text(
    "{name} 的地址是 {address}。",
    "{name} has address {address}.",
)
ROUTE_NONE = Text(
    "没有默认网关：电脑不知道把上网的数据发往哪里。请重新获取地址。",
    "There is no default gateway, so traffic for the internet has nowhere to go. Renew the lease.",
)
ROUTE_OK = Text(
    "默认网关是 {gateway}。",
    "The default gateway is {gateway}.",
)
ROUTE_PPP = Text(
    "默认路由经由 {name}（点对点连接）。",
    "The default route goes through {name} (point-to-point link).",
)
GATEWAY_UNREACHABLE = Text(
    "网关（路由器）{gateway} 没有响应。请检查路由器是否开机，重启路由器。",
    "The gateway (your router) {gateway} does not answer. Check that the router is on; restart it.",
)
GATEWAY_OK = Text(
    "网关 {gateway} 有响应（{rtt}）。",
    "Gateway {gateway} answers ({rtt}).",
)
GATEWAY_NO_PING = Text(
    "网关 {gateway} 不回应 ping，但有其他响应——这不是故障。",
    "Gateway {gateway} ignores ping but answers otherwise — not a fault.",
)
GATEWAY_SILENT_OK = Text(
    "网关 {gateway} 不回应探测，但互联网可用——这不是故障。",
    "Gateway {gateway} ignores our probes, but the internet works — not a fault.",
)
GATEWAY_SLOW = Text(
    "网关 {gateway} 响应很慢（{rtt}）。",
    "Gateway {gateway} is slow to answer ({rtt}).",
)
GATEWAY_NONE = Text(
    "没有可测试的网关。",
    "There is no gateway to test.",
)
DNS_NONE = Text(
    "没有设置 DNS 服务器，网址无法解析。可以改用公共 DNS。",
    "No DNS server is configured, so names cannot be looked up. Switching to public DNS fixes this.",
)
DNS_CONFIGURED = Text(
    "DNS 服务器：{servers}。",
    "DNS servers: {servers}.",
)
DNS_UNREACHABLE = Text(
    "DNS 服务器 {servers} 没有应答，但互联网可以通过 IP 访问。改用公共 DNS 即可上网。",
    "The DNS servers {servers} do not answer, yet the internet answers by IP. Switching to public DNS "
    "fixes browsing.",
)
DNS_SILENT_OFFLINE = Text(
    "DNS 服务器 {servers} 没有应答（互联网本身也不通）。",
    "The DNS servers {servers} do not answer (the internet itself is unreachable).",
)
DNS_OK = Text(
    "DNS 服务器有应答：{servers}。",
    "DNS servers answer: {servers}.",
)
DNS_NX_HIJACK = Text(
    "DNS 服务器 {server} 伪造了不存在的网址（{name} → {addresses}），这是 DNS 劫持。建议改用公共 DNS。",
    "DNS server {server} invents answers for names that do not exist ({name} → {addresses}): DNS "
    "hijacking. Switching to public DNS is advised.",
)
DNS_LIE = Text(
    "DNS 服务器 {server} 对 {name} 给出了错误地址（{addresses}，参考 DNS 为 {expected}），这是 DNS 劫持。",
    "DNS server {server} gives a wrong address for {name} ({addresses}; the reference says {expected}): "
    "DNS hijacking.",
)
DNS_HONEST = Text(
    "DNS 应答与参考 DNS 一致，不存在的网址返回“不存在”。",
    "DNS answers agree with the reference resolver and unknown names are reported as not existing.",
)
DNS_UNCOMPARED = Text(
    "无法与参考 DNS 比对（参考 DNS 无应答）。",
    "Could not compare with the reference resolver (it did not answer).",
)
DNS_SLOW = Text(
    "DNS 服务器 {server} 响应很慢（{latency}），网页会打开得很慢。",
    "DNS server {server} is slow ({latency}); pages will open slowly.",
)
DNS_FAST = Text(
    "DNS 响应时间 {latency}。",
    "DNS answers in {latency}.",
)
INTERNET_IP_OK = Text(
    "互联网可以通过 IP 访问（{target}）。",
    "The internet answers by IP ({target}).",
)
INTERNET_IP_WEB_ONLY = Text(
    "按 IP 的探测被拦截，但网页可以打开。",
    "Probes by IP are blocked, but the web works.",
)
INTERNET_IP_PORTAL = Text(
    "除了登录页面外，互联网被拦截。",
    "Everything but the login page is blocked.",
)
INTERNET_UNREACHABLE = Text(
    "网关之外的互联网无法访问（{targets} 均无响应）。问题在宽带线路或运营商一侧，请联系运营商。",
    "Nothing beyond the gateway answers ({targets}). The broadband line or the provider is down: call "
    "your provider.",
)
HTTP_OK = Text(
    "联网检测通过（{url}）。",
    "The connectivity check passed ({url}).",
)
HTTP_PORTAL = Text(
    "网页被登录页面拦截（{detail}）。请打开浏览器完成登录或认证。",
    "A login page intercepts web traffic ({detail}). Open a browser and sign in.",
)
HTTP_FAILED = Text(
    "联网检测失败：{error}。",
    "The connectivity check failed: {error}.",
)
PPPOE_OK = Text(
    "宽带拨号 {name} 已连接（{interface}）。",
    "The broadband dial-up {name} is connected ({interface}).",
)
PPPOE_NO_ANSWER = Text(
    "宽带拨号 {name} 没有响应：{device} 上没有任何宽带接入服务器回应。"
    "请检查光猫是否开机、光猫的光信号灯是否正常、"
    "光猫与电脑之间的网线，然后重新拨号。",
    "The broadband dial-up {name} gets no answer: no access concentrator responds on {device}. Check that "
    "the modem is on and its line light is steady, and the cable between the modem and the PC; then redial.",
)
PPPOE_NO_ANSWER_LOGGED = Text(
    "宽带拨号 {name} 上次失败：没有接入服务器回应（{detail}）。请检查光猫和网线，然后重新拨号。",
    "The broadband dial-up {name} last failed with no answer from the provider ({detail}). Check the modem "
    "and the cable, then redial.",
)
PPPOE_AUTH_FAILED = Text(
    "宽带账号或密码被拒绝（{name}：{detail}）。请核对宽带账号和密码（注意大小写），再重新拨号。",
    "The provider refused the broadband account or password ({name}: {detail}). Check the user name and "
    "password (they are case-sensitive), then redial.",
)
PPPOE_SUSPENDED = Text(
    "运营商拒绝了宽带账号 {name}，并说明：“{message}”。账号可能已欠费或被停用，请联系运营商；改密码没有用。",
    "The provider refused the account of {name} and said: \u201c{message}\u201d. The account may be in "
    "arrears or suspended: call the provider; changing the password will not help.",
)
PPPOE_AUTH_TIMEOUT = Text(
    "登录宽带 {name} 时运营商的认证服务器没有回应（{detail}）。"
    "账号可能被停用或绑定在其他设备上，请联系运营商。",
    "The provider's login server did not answer when {name} dialed ({detail}). The account may be "
    "suspended or bound to another device: call the provider.",
)
PPPOE_NO_ADDRESS = Text(
    "宽带 {name} 能连通，但运营商没有分配 IP 地址（{detail}）。请重置拨号设置后重新拨号。",
    "The dial-up {name} connects but the provider assigns no address ({detail}). Reset the dialer's "
    "settings and redial.",
)
PPPOE_UP_NO_ADDRESS = Text(
    "拨号接口没有 IPv4 地址",
    "the dial-up interface has no IPv4 address",
)
PPPOE_UNSTABLE = Text(
    "宽带拨号 {name} 最近掉线了 {drops} 次。线路不稳定：请检查光猫和网线；经常发生请联系运营商。",
    "The dial-up {name} dropped {drops} times recently. The line is unstable: check the modem and "
    "cables; if it keeps happening, call the provider.",
)
PPPOE_DOWN = Text(
    "宽带拨号 {name} 没有连接，接入服务器有回应。请重新拨号。",
    "The broadband dial-up {name} is not connected, though the provider answers. Redial.",
)
DHCP_NO_ANSWER = Text(
    "网线连接正常，但没有 DHCP 服务器分配地址（{interface} 等待了 {waited}）。"
    "路由器的 DHCP 服务可能已关闭或地址已用完："
    "请重启路由器，然后重新获取地址。",
    "The link on {interface} is up, but no DHCP server offers an address (waited {waited}). The router's "
    "DHCP service is off or out of addresses: restart the router, then renew the lease.",
)
DHCP_OFFERED = Text(
    "DHCP 服务器 {server} 提供了地址 {offered}，但电脑没有拿到。请重新获取地址。",
    "DHCP server {server} offers {offered}, but this PC has not taken it. Renew the lease.",
)
WIFI_NOT_ASSOCIATED = Text(
    "无线网卡 {name} 没有连接到任何 Wi-Fi。请选择您的网络并连接。",
    "Wi-Fi adapter {name} is not connected to a network. Pick your network and connect.",
)
WIFI_AUTH_FAILED = Text(
    "连接 Wi-Fi {ssid} 时密码被拒绝（{detail}）。请重新输入 Wi-Fi 密码。",
    "The Wi-Fi {ssid} refused the password ({detail}). Enter the Wi-Fi password again.",
)
WIFI_WEAK = Text(
    "Wi-Fi {ssid} 信号太弱（{signal}）。请靠近路由器，或减少墙壁等遮挡。",
    "The Wi-Fi signal of {ssid} is too weak ({signal}). Move closer to the router or away from walls.",
)
WIFI_OK = Text(
    "已连接 Wi-Fi {ssid}（信号 {signal}）。",
    "Connected to Wi-Fi {ssid} (signal {signal}).",
)
WIFI_CONGESTED = Text(
    "Wi-Fi 信道 {channel} 很拥挤（{detail}）。请在路由器上换一个信道，或改用 5 GHz。",
    "Wi-Fi channel {channel} is crowded ({detail}). Pick another channel on the router, or use 5 GHz.",
)
WIFI_CHANNEL_OK = Text(
    "Wi-Fi 信道 {channel} 不拥挤。",
    "Wi-Fi channel {channel} is not crowded.",
)
MTU_BLACKHOLE = Text(
    "大数据包在途中丢失，且没有返回“需要分片”的提示（小包可达，"
    "{largest} 字节以上的包消失）。网页和加密连接会卡住。"
    "把 MTU 改为 {largest} 可以解决。",
    "Large packets vanish on the way and no \u201cfragmentation needed\u201d comes back (small packets "
    "pass; packets above {largest} bytes disappear). Pages and secure connections stall; setting the "
    "MTU to {largest} fixes it.",
)
MTU_OK = Text(
    "{size} 字节的数据包可以通过（MTU 正常）。",
    "Packets of {size} bytes get through (the MTU is fine).",
)
MTU_PMTUD = Text(
    "路径 MTU 为 {mtu}，路由器正确地返回了“需要分片”。",
    "The path MTU is {mtu} and the router says so (\u201cfragmentation needed\u201d): not a fault.",
)
IPV6_BROKEN = Text(
    "电脑有 IPv6 地址和路由，但 IPv6 不通（{targets} 无响应），而 IPv4 正常。网页会很慢或打不开。"
    "请在路由器上关闭 IPv6 或联系运营商。",
    "This PC has an IPv6 address and route, but IPv6 goes nowhere ({targets} do not answer) while IPv4 "
    "works. Pages will be slow or fail; turn IPv6 off on the router or call the provider.",
)
IPV6_OK = Text(
    "IPv6 可用（{target}）。",
    "IPv6 works ({target}).",
)
PROXY_UNREACHABLE = Text(
    "设置的代理服务器 {proxy}（{source}）没有响应（{error}），所以浏览器打不开网页，而 ping 正常。"
    "请关闭代理设置或修正代理地址。",
    "The configured proxy {proxy} ({source}) does not answer ({error}), so the browser fails while ping "
    "works. Turn the proxy setting off or correct it.",
)
PROXY_OK = Text(
    "代理服务器 {proxy} 可用。",
    "The proxy {proxy} works.",
)
DOUBLE_NAT = Text(
    "您的路由器之外还有一层路由器（{hop}，通常是光猫也在做路由）：双重 NAT。"
    "游戏、视频通话和远程访问可能受影响；把光猫改为桥接模式可以避免。",
    "Beyond your router there is another one ({hop}), usually the modem routing too: double NAT. Games, "
    "calls and remote access may suffer; setting the modem to bridge mode avoids it.",
)
DOUBLE_NAT_NONE = Text(
    "路由器之后是运营商网络（{hop}）。",
    "After your router comes the provider's network ({hop}).",
)
DNS_CHECK_LIE = Text(
    "DNS 服务器 {server} 把 {name} 解析到 {addresses}，"
    "该地址不通；参考 DNS 给出的 {expected} 可以访问。这是 DNS 劫持。",
    "DNS server {server} sends {name} to {addresses}, which does not work, while the reference's "
    "{expected} does: DNS hijacking.",
)
UPSTREAM_UNKNOWN = Text(
    "联网检测失败（{error}），但网卡、网关、DNS 和按 IP 访问都正常，"
    "找不到具体原因。问题可能在运营商一侧或目标网站，"
    "请把本报告提供给客服。",
    "The connectivity check fails ({error}) although the adapter, gateway, DNS and the internet by IP "
    "all work; the exact cause is unknown. The fault is upstream (the provider or the site): give this "
    "report to support.",
)
SKIPPED = Text(
    "未检查：{reason}",
    "Not checked: {reason}",
)
SKIP_BELOW = Text(
    "下层已出错。",
    "a lower layer already fails.",
)
SKIP_NO_RESOLVERS = Text(
    "没有 DNS 服务器。",
    "there is no DNS server.",
)
SKIP_NO_ANSWER = Text(
    "DNS 服务器没有应答。",
    "the DNS servers do not answer.",
)
SKIP_NO_PROBE = Text(
    "无法发送探测包（需要管理员权限）。",
    "the probe could not be sent (needs administrator rights).",
)
SKIP_NO_CHECK = Text(
    "未配置联网检测。",
    "no connectivity check is configured.",
)
NONE_WORD = Text(
    "无",
    "none",
)
VERDICT = {
    "ok": Text("网络正常。", "The network is working."),
    "degraded": Text("网络可用，但有问题。", "The network works, with problems."),
    "offline": Text("无法上网。", "The internet is not reachable."),
}
ROOT_CAUSE_LABEL = Text(
    "原因",
    "Cause",
)
HEADLINE = Text(
    "{verdict}原因：{cause}",
    "{verdict} Cause: {cause}",
)
NO_ROOT_CAUSE = Text(
    "没有发现故障。",
    "No fault found.",
)
