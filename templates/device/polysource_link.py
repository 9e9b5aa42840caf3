# polysource_link for MicroPython: TLS (SNI, the board's pinned CA) and MQTT 3.1.1 CONNECT and
# PUBLISH (QoS 0 or 1), the same protocol steps as polysource_link.c. Generated into each board's
# folder by polysource; the same file for every board.
import socket
import ssl
import struct


class LinkError(Exception):
    """Why the link failed, in words; refused: retrying soon will not help (account, certificate);
    clock_wrong: a certificate's dates do not fit the board's clock."""

    def __init__(self, words, refused=False, clock_wrong=False):
        super().__init__(words)
        self.refused = refused
        self.clock_wrong = clock_wrong


CONNACK_WORDS = {
    1: "the broker refused the MQTT protocol version",
    2: "the broker refused the client id (unique per board?)",
    3: "the broker is unavailable",
    4: "the broker refused the user name or password",
    5: "the broker refused: not authorized (user, password, or SNI)",
}


def format_payload(template, decimals, value, time_ms=0):
    """The reading into its JSON: %s the value with the sensor's decimals (99.9 is 99.9 on the wire),
    %t the time it was measured (Unix ms), %% a %."""
    if value != value or value in (float("inf"), float("-inf")):
        raise LinkError("a reading must be a finite number")
    parts = template.split("%%")
    parts = [p.replace("%s", "%.*f" % (decimals, value)).replace("%t", "%d" % time_ms) for p in parts]
    return "%".join(parts)


def _tls_error(error, host):
    """mbedTLS's verification messages (as MicroPython raises them) in the words polysource uses."""
    text = " ".join(str(error).split()).lower()
    if "common name" in text or "cn_mismatch" in text:
        return LinkError("the broker's certificate is not for %s: check the host name" % host, refused=True)
    if "trusted ca" in text or "not_trusted" in text:
        return LinkError(
            "the broker's certificate is not signed by the CA this board carries: check the CA", refused=True
        )
    if "expired" in text or "future" in text:
        return LinkError(
            "the broker's certificate is expired or not yet valid (is the board's clock set?)",
            refused=True,
            clock_wrong=True,
        )
    return LinkError(
        "the broker ended the TLS handshake: it does not know the name %s (SNI), "
        "or this is not its TLS port (%s)" % (host, text)
    )


def _string(text):
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _length(n):
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


class Link:
    def __init__(self, host, port, use_tls, ca_ders, client_id, username, password, keepalive, timeout):
        self.host = host
        self.packet_id = 1
        try:
            address = socket.getaddrinfo(host, port)[0][-1]
        except OSError as error:
            raise LinkError("%s does not resolve (%s)" % (host, error)) from None
        raw = socket.socket()
        raw.settimeout(timeout)
        try:
            raw.connect(address)
        except OSError as error:
            raw.close()
            raise LinkError("no TCP connection to %s:%d (%s)" % (host, port, error)) from None
        self.sock = raw
        if use_tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.verify_mode = ssl.CERT_REQUIRED
            for der in ca_ders:  # each call adds one CA (ISRG Root X1, X2)
                context.load_verify_locations(cadata=der)
            try:
                self.sock = context.wrap_socket(raw, server_hostname=host)
            except Exception as error:  # mbedTLS reports through OSError/ValueError, by port
                raw.close()
                raise _tls_error(error, host) from None
        try:
            self._connect(client_id, username, password, keepalive)
        except LinkError:
            self.sock.close()
            raise

    def _send(self, data):
        write = getattr(self.sock, "write", None) or self.sock.sendall
        try:
            write(data)
        except OSError:
            raise LinkError("the connection to the broker dropped while sending") from None

    def _read(self, n, waiting_for):
        data = b""
        read = getattr(self.sock, "read", None) or self.sock.recv
        while len(data) < n:
            try:
                chunk = read(n - len(data))
            except OSError:
                raise LinkError("no %s from the broker in time" % waiting_for) from None
            if not chunk:
                raise LinkError("the broker closed the connection instead of sending a %s" % waiting_for)
            data += chunk
        return data

    def _packet(self, kind, body):
        self._send(bytes([kind]) + _length(len(body)) + body)

    def _connect(self, client_id, username, password, keepalive):
        flags = 0x02
        payload = _string(client_id)
        if username:
            flags |= 0x80
            payload += _string(username)
        if password:
            flags |= 0x40
            payload += _string(password)
        self._packet(0x10, _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + payload)
        ack = self._read(4, "CONNACK")
        if ack[0] != 0x20:
            raise LinkError("the broker answered CONNECT with something else")
        if ack[3]:  # 3: unavailable, try again later; the others: this board's account or id
            raise LinkError(
                CONNACK_WORDS.get(ack[3], "the broker refused the connection"), refused=ack[3] != 3
            )

    def publish(self, topic, payload, qos=1):
        body = _string(topic)
        packet_id = self.packet_id
        if qos:
            body += struct.pack("!H", packet_id)
            self.packet_id = 1 if packet_id == 65535 else packet_id + 1
        self._packet(0x32 if qos else 0x30, body + payload.encode())
        if qos:
            ack = self._read(4, "PUBACK")
            if ack[0] != 0x40 or struct.unpack("!H", ack[2:4])[0] != packet_id:
                raise LinkError("the broker answered PUBLISH with something else")

    def ping(self):
        self._send(b"\xc0\x00")
        if self._read(2, "PINGRESP")[0] != 0xD0:
            raise LinkError("the broker answered PINGREQ with something else")

    def close(self):
        try:
            self._send(b"\xe0\x00")
        except LinkError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
