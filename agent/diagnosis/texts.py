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
NO_ROOT_CAUSE = Text(
    "没有发现故障。",
    "No fault found.",
)
