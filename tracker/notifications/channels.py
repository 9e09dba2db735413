"""The wire: one attempt on one channel, bounded by a total deadline, to vetted hosts only.

- ``Deadline``: a wall-clock bound on a whole attempt (connect, send, answer). A socket
  timeout bounds each read, so a server trickling one byte every 5 s would hold the
  worker for minutes; a timer that shuts the attempt's sockets down when the deadline
  passes ends the blocked read whatever the server does.
- ``post_json``: a webhook POST to an address resolved at send time, every address of
  the host checked (no loopback, link-local, private or reserved range unless
  ``WEBHOOK_ALLOW_PRIVATE``), connected to the address that was checked (no second
  lookup a DNS answer could change), redirects never followed.
- ``send_smtp``: mail over SMTP, step by step, so the attempt knows whether the server
  has the whole message (end of DATA sent) and records the success *before* QUIT.
- ``ChannelError.taken``: the server may have the message (the request or the DATA went
  out in full) but never said whether it took it. For a channel that cannot de-duplicate
  that outcome is not retried (``tracker.notifications.delivery``).
- ``webhook_url_problem``: who may set which webhook URL (the allow list).
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail.message import sanitize_address

from tracker import conf


class ChannelError(Exception):
    """One attempt failed. ``taken``: the server may have the message (fully sent, no
    answer); ``answered``: the server itself said the attempt failed."""

    def __init__(self, message: str, *, taken: bool = False):
        super().__init__(message)
        self.taken = taken


class Deadline:
    """A total time limit for one attempt: the sockets it watches are shut down when it
    passes, which ends any blocked read or write at once."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            raise TimeoutError(self.message())
        return left

    def message(self) -> str:
        return f"超过单次发送总时限 {self.seconds:g} 秒"

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # the plain socket's shutdown, also for a TLS socket: no TLS goodbye to wait for
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


# --- where webhooks may go ----------------------------------------------------------------


def _blocked_ip(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _literal_ip(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def host_allowed(host: str) -> bool:
    """``host`` is on the allow list (``WEBHOOK_HOSTS``, case-insensitive, exact)."""
    return host.lower().rstrip(".") in {h.lower().rstrip(".") for h in conf.WEBHOOK_HOSTS}


def webhook_url_problem(url: str, *, any_host: bool) -> str | None:
    """Why ``url`` may not be a contact's webhook (a Chinese sentence), or None.
    ``any_host``: the editor is 督查室 or an admin, who may name hosts off the list."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Webhook 地址必须是 http:// 或 https:// 开头的完整网址"
    if parts.username or parts.password:
        return "Webhook 地址不能包含用户名或密码"
    literal = _literal_ip(parts.hostname)
    if literal and _blocked_ip(literal) and not conf.WEBHOOK_ALLOW_PRIVATE:
        return "Webhook 地址不能指向本机、内网或链路本地地址"
    if not any_host and not host_allowed(parts.hostname):
        hosts = "、".join(conf.WEBHOOK_HOSTS) or "（无）"
        return f"Webhook 只能发往允许的地址（{hosts}）；其他地址请联系市政府督查室或系统管理员设置"
    return None


def vetted_addresses(host: str, port: int) -> list[tuple]:
    """The host's addresses, resolved now; refused if any of them is loopback,
    link-local, private or reserved (unless ``WEBHOOK_ALLOW_PRIVATE``)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ChannelError(f"无法解析 Webhook 主机 {host}：{exc}") from exc
    if not conf.WEBHOOK_ALLOW_PRIVATE:
        blocked = sorted({info[4][0] for info in infos if _blocked_ip(info[4][0])})
        if blocked:
            raise ChannelError(
                f"Webhook 主机 {host} 解析到本机、内网或链路本地地址"
                f"（{', '.join(blocked)}），已拒绝发送"
            )
    return infos


def _connect(infos: list[tuple], deadline: Deadline) -> socket.socket:
    last: Exception | None = None
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        deadline.watch(sock)
        try:
            sock.settimeout(deadline.remaining())
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise ChannelError(f"无法连接：{deadline.message() if deadline.expired else last}")


# --- webhooks -------------------------------------------------------------------------------


def post_json(url: str, body: bytes, headers: dict, *, before_send: Callable[[], None]):
    """POST ``body`` to ``url`` within ``DELIVERY_DEADLINE_SECONDS``; returns
    ``(status, first 64 KiB of the answer)``. ``before_send`` runs once the connection
    is open, just before the request goes out."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChannelError(f"Webhook 地址只支持 http/https：{url}")
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    with Deadline(conf.DELIVERY_DEADLINE_SECONDS) as deadline:
        sock = _connect(vetted_addresses(parts.hostname, port), deadline)
        # the socket is ours (connected to the checked address); the class gives the
        # Host header its default port
        kind = http.client.HTTPSConnection if https else http.client.HTTPConnection
        conn = kind(parts.hostname, port)
        try:
            if https:
                try:
                    sock = ssl.create_default_context().wrap_socket(
                        sock, server_hostname=parts.hostname
                    )
                except (OSError, ssl.SSLError) as exc:
                    raise ChannelError(f"TLS 握手失败：{_why(exc, deadline)}") from exc
                deadline.watch(sock)
            conn.sock = sock
            before_send()
            try:
                conn.request("POST", path, body=body, headers=headers)
            except OSError as exc:  # not all of it went out: the server cannot have it
                raise ChannelError(f"发送请求失败：{_why(exc, deadline)}") from exc
            try:
                response = conn.getresponse()
                answer = response.read(65536)
            except (OSError, http.client.HTTPException) as exc:
                raise ChannelError(
                    f"请求已发出，但未收到完整答复：{_why(exc, deadline)}", taken=True
                ) from exc
        finally:
            conn.close()
    if 300 <= response.status < 400:
        raise ChannelError(
            f"Webhook 地址返回重定向 HTTP {response.status}（{response.getheader('Location')}），"
            "未跟随；请更正地址"
        )
    return response.status, answer


def _why(exc: BaseException, deadline: Deadline) -> str:
    return deadline.message() if deadline.expired else f"{type(exc).__name__}: {exc}"


# --- mail -----------------------------------------------------------------------------------


def send_smtp(message, *, before_data: Callable[[], None], accepted: Callable[[], None]):
    """Send a Django ``EmailMessage`` over SMTP (Django's ``EMAIL_*`` settings) within
    ``DELIVERY_DEADLINE_SECONDS`` in total (``EMAIL_TIMEOUT`` per step). ``accepted``
    runs when the server confirms the message (250 after DATA), before QUIT: a server
    that then hangs changes nothing."""
    seconds = conf.DELIVERY_DEADLINE_SECONDS
    taken = False
    with Deadline(seconds) as deadline:
        base = smtplib.SMTP_SSL if settings.EMAIL_USE_SSL else smtplib.SMTP

        class Watched(base):
            def _get_socket(self, host, port, timeout):
                sock = super()._get_socket(host, port, timeout)
                deadline.watch(sock)
                return sock

        # EMAIL_TIMEOUT still bounds each step; the deadline bounds them all together
        smtp = Watched(timeout=min(settings.EMAIL_TIMEOUT or seconds, seconds))
        try:
            smtp.connect(settings.EMAIL_HOST, settings.EMAIL_PORT)
            smtp.ehlo_or_helo_if_needed()
            if settings.EMAIL_USE_TLS:
                smtp.starttls(context=ssl.create_default_context())
                deadline.watch(smtp.sock)
                smtp.ehlo()
            if settings.EMAIL_HOST_USER:
                smtp.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
            encoding = message.encoding or settings.DEFAULT_CHARSET
            sender = sanitize_address(message.from_email, encoding)
            _expect(smtp.mail(sender), 250)
            for to in message.recipients():
                _expect(smtp.rcpt(sanitize_address(to, encoding)), 250, 251)
            _expect(smtp.docmd("DATA"), 354)
            data = re.sub(rb"(?m)^\.", b"..", message.message().as_bytes(linesep="\r\n"))
            if not data.endswith(b"\r\n"):
                data += b"\r\n"
            before_data()
            smtp.send(data + b".\r\n")
            taken = True  # the whole message is with the server
            _expect(smtp.getreply(), 250)
        except smtplib.SMTPResponseException as exc:  # the server said no: it has nothing
            raise ChannelError(f"邮件服务器拒绝：{exc.smtp_code} {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            if taken:
                raise ChannelError(
                    f"邮件已全部发出，但服务器未确认：{_why(exc, deadline)}", taken=True
                ) from exc
            raise ChannelError(f"邮件发送失败：{_why(exc, deadline)}") from exc
        else:
            accepted()
        finally:
            _close(smtp)


def _expect(reply: tuple[int, bytes], *codes: int) -> None:
    code, text = reply
    if code not in codes:
        raise smtplib.SMTPResponseException(code, text)


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT politely if the server still listens; any trouble here changes nothing."""
    try:
        if smtp.sock is not None:
            smtp.sock.settimeout(1)
            smtp.quit()
    except (OSError, smtplib.SMTPException):
        pass
    finally:
        smtp.close()
