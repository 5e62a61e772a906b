"""The fixed topic vocabulary of docs/content-format.md, with display names in both languages.

Topics are rows (so the admin can filter and quizzes can point at them), but their slugs are a
closed list: content validation rejects unknown ones so a typo never creates a new topic.
"""
from __future__ import annotations

TOPICS: dict[str, tuple[str, str]] = {
    "url": ("Typing a URL", "URL 입력부터 화면까지"),
    "dns": ("DNS", "DNS"),
    "osi": ("OSI and TCP/IP layers", "OSI 7계층과 TCP/IP 4계층"),
    "ip": ("IP networking", "IP 네트워킹"),
    "tcp": ("TCP", "TCP"),
    "udp": ("UDP", "UDP"),
    "http": ("HTTP", "HTTP"),
    "https-tls": ("HTTPS and TLS", "HTTPS와 TLS"),
    "rest": ("REST", "REST"),
    "cookies-sessions": ("Cookies and sessions", "쿠키와 세션"),
    "load-balancing": ("Load balancing", "로드 밸런싱"),
    "scaling": ("Scale-up and scale-out", "스케일 업과 스케일 아웃"),
    "vip": ("Virtual IP (VIP)", "가상 IP (VIP)"),
    "client-side-lb": ("Client-side load balancing", "클라이언트 사이드 로드 밸런싱"),
    "ha-ft": ("High availability and fault tolerance", "고가용성과 장애 허용"),
    "netty": ("Netty and event loops", "Netty와 이벤트 루프"),
    "io-models": ("Blocking, non-blocking, sync, async I/O", "블로킹/논블로킹, 동기/비동기 I/O"),
    "browser": ("The browser", "브라우저"),
    "mobile-traffic": ("High traffic from mobile clients", "모바일 클라이언트의 대량 트래픽"),
    "flow-congestion": ("Flow and congestion control", "흐름 제어와 혼잡 제어"),
}
