#!/usr/bin/env python3
"""Raw-socket checks of mandated's HTTP/1.1 side, for tests/e2e/daemon/run.sh.

Each subcommand prints one line per check, `ok <name>` or `FAIL <name>: why`,
and exits 0 when every check passed.  Things curl cannot do live here:
malformed framing, slow clients, pipelining, connection limits, a request
in flight during SIGTERM.

  rawhttp.py malformed PORT TOKEN      hostile requests: each gets its 4xx/5xx JSON
  rawhttp.py valid PORT TOKEN          odd but valid requests (chunked, pipelined, HEAD, 1.0, Expect)
  rawhttp.py slowloris PORT SECONDS    stalled and trickled heads are cut off; others are served
  rawhttp.py slowbody PORT SECONDS TOKEN
                                       a stalled body is cut off
  rawhttp.py maxconn PORT N            with N idle connections open, the next gets 503 JSON
  rawhttp.py metrics PORT              /metrics is valid Prometheus text exposition
  rawhttp.py inflight PORT PID TOKEN   SIGTERM during a request: it completes, the port closes
  rawhttp.py reload-inflight PORT PID CONF LOG TOKEN
                                       SIGHUP during a request: it keeps its snapshot's limits
  rawhttp.py early PORT PID            refused requests (401, 404, 405) are answered from the head,
                                       before the body is read or 100 Continue sent
  rawhttp.py tlsleak PORT CAFILE N     TLS clients that send a request and close at once do not
                                       hold connections
  rawhttp.py mutate PORT TOKEN N [SEED] N requests made by randomly mutating valid ones (bytes
                                       flipped, inserted, dropped, lines repeated, sizes changed):
                                       every answer is well-formed, every error a JSON body, no
                                       unexpected 5xx, and the daemon keeps serving
"""
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time

failures = 0


def report(ok, name, why=""):
    global failures
    if ok:
        print(f"ok {name}", flush=True)
    else:
        failures += 1
        print(f"FAIL {name}: {why}", flush=True)


def connect(port, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def read_all(s, deadline=5.0):
    """Read until EOF or deadline; returns (bytes, eof_seen)."""
    s.settimeout(deadline)
    data = b""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def parse_responses(data, head_only=False):
    """Split a byte stream into [(status, headers(dict, lower-case), body)]; 1xx included."""
    out = []
    while data:
        i = data.find(b"\r\n\r\n")
        if i < 0:
            break
        head = data[:i].decode("latin-1")
        data = data[i + 4:]
        lines = head.split("\r\n")
        m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0] + " ")
        if not m:
            raise ValueError(f"bad status line {lines[0]!r}")
        status = int(m.group(1))
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = 0 if (status < 200 or status in (204, 304) or head_only) else int(headers.get("content-length", "0"))
        body, data = data[:n], data[n:]
        out.append((status, headers, body))
    return out


def exchange(port, payload, deadline=5.0, head_only=False):
    s = connect(port)
    try:
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, eof = read_all(s, deadline)
    finally:
        s.close()
    return parse_responses(data, head_only), eof


def json_error_ok(status, headers, body):
    if not headers.get("content-type", "").startswith("application/json"):
        return f"content-type {headers.get('content-type')!r}"
    try:
        doc = json.loads(body)
    except ValueError as e:
        return f"body is not JSON ({e}): {body[:80]!r}"
    if not isinstance(doc, dict) or not isinstance(doc.get("error"), str) or not isinstance(doc.get("message"), str):
        return f"body lacks error/message: {body[:120]!r}"
    return None


def expect_error(port, name, payload, statuses, code=None, closed=True):
    if isinstance(statuses, int):
        statuses = (statuses,)
    try:
        resps, eof = exchange(port, payload)
    except Exception as e:  # noqa: BLE001 - any failure is a test failure
        report(False, name, f"exception {e!r}")
        return
    finals = [r for r in resps if r[0] >= 200]
    if len(finals) != 1:
        report(False, name, f"expected one answer, got {[r[0] for r in resps]}")
        return
    status, headers, body = finals[0]
    if status not in statuses:
        report(False, name, f"status {status}, want {statuses}: {body[:120]!r}")
        return
    why = json_error_ok(status, headers, body)
    if why:
        report(False, name, why)
        return
    if code and json.loads(body)["error"] != code:
        report(False, name, f"error code {json.loads(body)['error']!r}, want {code!r}")
        return
    if closed and not eof:
        report(False, name, "the connection was not closed after the error")
        return
    report(True, name)


H = b"Host: test\r\n"


def req(line, headers=b"", body=b""):
    return line + b"\r\n" + H + headers + b"\r\n" + body


def post(auth, body, ctype=b"application/json"):
    headers = auth + (b"Content-Type: " + ctype + b"\r\n" if ctype else b"")
    return req(b"POST /v1/admin/settings HTTP/1.1", headers + b"Content-Length: %d\r\n" % len(body), body)


def cmd_malformed(port, token):
    auth = b"Authorization: Bearer " + token.encode() + b"\r\n"
    big = b"X-Big: " + b"a" * 20000 + b"\r\n"
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    cases = [
        ("garbage request line", b"GARBAGE\r\n\r\n", 400),
        ("binary junk", bytes(range(1, 32)) * 4 + b"\r\n\r\n", 400),
        ("bare LF line ends", b"GET /healthz HTTP/1.1\nHost: x\n\n", 400),
        ("bare CR", b"GET /healthz HTTP/1.1\rHost: x\r\n\r\n", 400),
        ("obs-fold", req(b"GET /healthz HTTP/1.1", b"X-A: 1\r\n  folded\r\n"), 400),
        ("space before colon", b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        ("NUL in header value", req(b"GET /healthz HTTP/1.1", b"X-A: a\x00b\r\n"), 400),
        ("control char in target", req(b"GET /heal\x01thz HTTP/1.1"), 400),
        ("non-ASCII in target", req(b"GET /h\xc3\xa9 HTTP/1.1"), 400),
        ("fragment in target", req(b"GET /healthz#x HTTP/1.1"), 400),
        ("absolute-form target", req(b"GET http://test/healthz HTTP/1.1"), 400),
        ("asterisk target", req(b"OPTIONS * HTTP/1.1"), 400),
        ("missing Host", b"GET /healthz HTTP/1.1\r\n\r\n", 400),
        ("two Host headers", req(b"GET /healthz HTTP/1.1", b"Host: other\r\n"), 400),
        ("HTTP/2.0 version", req(b"GET /healthz HTTP/2.0"), 505),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", (400, 505)),
        ("HTTP/0.9 request", b"GET /healthz\r\n\r\n", 400),
        ("lower-case version", req(b"GET /healthz http/1.1"), 400),
        ("method too long", req(b"G" * 40 + b" /healthz HTTP/1.1"), 400),
        ("two spaces in request line", req(b"GET  /healthz HTTP/1.1"), 400),
        ("Content-Length and Transfer-Encoding",
         req(b"POST /v1/admin/settings HTTP/1.1", b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", b"abc"), 400),
        ("Content-Length not a number", req(b"POST /healthz HTTP/1.1", b"Content-Length: abc\r\n"), 400),
        ("Content-Length negative", req(b"POST /healthz HTTP/1.1", b"Content-Length: -1\r\n"), 400),
        ("Content-Length list", req(b"POST /healthz HTTP/1.1", b"Content-Length: 1, 1\r\n", b"a"), 400),
        ("two Content-Length", req(b"POST /healthz HTTP/1.1", b"Content-Length: 1\r\nContent-Length: 1\r\n", b"a"), 400),
        ("Content-Length huge", req(b"POST /healthz HTTP/1.1", b"Content-Length: 99999999999999999999999\r\n"), 400),
        ("Transfer-Encoding gzip", req(b"POST /healthz HTTP/1.1", b"Transfer-Encoding: gzip\r\n"), 501),
        ("Transfer-Encoding in HTTP/1.0",
         b"POST /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("head over 16 KiB", req(b"GET /healthz HTTP/1.1", big), 431),
        ("150 header fields", req(b"GET /healthz HTTP/1.1", many), 431),
        ("Expect other than 100-continue", req(b"POST /healthz HTTP/1.1", b"Expect: magic\r\nContent-Length: 1\r\n", b"a"), 417),
        ("body over the limit", req(b"POST /v1/admin/settings HTTP/1.1", b"Content-Length: 100000\r\n", b"x" * 100000), 413),
        ("body over the limit, Expect 100-continue",
         req(b"POST /v1/admin/settings HTTP/1.1", b"Expect: 100-continue\r\nContent-Length: 100000\r\n"), 413),
        ("chunked body over the limit",
         req(b"POST /v1/admin/settings HTTP/1.1", b"Transfer-Encoding: chunked\r\n" + auth,
             b"".join(b"1000\r\n" + b"y" * 4096 + b"\r\n" for _ in range(30)) + b"0\r\n\r\n"), 413),
        ("chunk size not hex", req(b"POST /v1/admin/settings HTTP/1.1", b"Transfer-Encoding: chunked\r\n" + auth, b"zz\r\nab\r\n0\r\n\r\n"), 400),
        ("chunk size overflow", req(b"POST /v1/admin/settings HTTP/1.1", b"Transfer-Encoding: chunked\r\n" + auth, b"ffffffffffffffffff\r\n"), (400, 413)),
        ("chunk data without CRLF", req(b"POST /v1/admin/settings HTTP/1.1", b"Transfer-Encoding: chunked\r\n" + auth, b"2\r\nabXX0\r\n\r\n"), 400),
        ("chunk size line too long", req(b"POST /v1/admin/settings HTTP/1.1", b"Transfer-Encoding: chunked\r\n" + auth, b"1" + b" " * 3000), 400),
        ("bad percent-encoding in a path parameter",
         req(b"GET /v1/admin/settings/a%zz HTTP/1.1", auth + b"Connection: close\r\n"), 400),
        ("NUL in a path parameter", req(b"GET /v1/admin/settings/a%00b HTTP/1.1", auth + b"Connection: close\r\n"), 400),
    ]
    # chunk lines and trailer fields (RFC 9112 §7.1): the body is a valid setting, so a server
    # that let any of these through would answer 200 and keep the connection
    setting = b'{"key":"trailer.test","value":"v"}'
    chunk = b"%x\r\n%s\r\n" % (len(setting), setting)

    def chunked(body):
        return req(b"POST /v1/admin/settings HTTP/1.1",
                   auth + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", body)

    smuggle = req(b"GET /nope HTTP/1.1") + req(b"GET /healthz HTTP/1.1")
    cases += [
        # a front end taking LF as a line end sees three requests; one that read "X: a\n" as a
        # field would see two and swallow GET /nope
        ("trailer with a bare LF, pipelined requests behind it", chunked(chunk + b"0\r\nX: a\n\r\n") + smuggle, 400),
        ("trailer: the reviewer's request on /healthz",
         req(b"POST /healthz HTTP/1.1", b"Transfer-Encoding: chunked\r\n", b"0\r\nX: a\n\r\n") + smuggle, 405),
        ("trailer with a bare LF at its start", chunked(chunk + b"0\r\n\nX: a\r\n\r\n") + smuggle, 400),
        ("trailer with a bare CR", chunked(chunk + b"0\r\nX: a\rb\r\n\r\n"), 400),
        ("trailer with a NUL", chunked(chunk + b"0\r\nX: a\x00b\r\n\r\n"), 400),
        ("trailer with a control character", chunked(chunk + b"0\r\nX: a\x01b\r\n\r\n"), 400),
        ("trailer with DEL", chunked(chunk + b"0\r\nX: a\x7fb\r\n\r\n"), 400),
        ("trailer without a colon", chunked(chunk + b"0\r\nnocolon\r\n\r\n"), 400),
        ("trailer with space before the colon", chunked(chunk + b"0\r\nX : a\r\n\r\n"), 400),
        ("trailer with obs-fold", chunked(chunk + b"0\r\nX: a\r\n folded\r\n\r\n"), 400),
        ("trailer with an empty name", chunked(chunk + b"0\r\n: a\r\n\r\n"), 400),
        ("trailer name with a separator", chunked(chunk + b"0\r\nX(y): a\r\n\r\n"), 400),
        ("chunk size followed by a space", chunked(b"%x \r\n%s\r\n0\r\n\r\n" % (len(setting), setting)), 400),
        ("chunk size followed by a tab", chunked(b"%x\t\r\n%s\r\n0\r\n\r\n" % (len(setting), setting)), 400),
        ("last chunk size followed by a space", chunked(chunk + b"0 \r\n\r\n"), 400),
        ("chunk size with a bare LF in its line", chunked(b"%x\n;a\r\n%s\r\n0\r\n\r\n" % (len(setting), setting)), 400),
        ("chunk extension without a name", chunked(b"%x;\r\n%s\r\n0\r\n\r\n" % (len(setting), setting)), 400),
        ("chunk extension, space after its name only", chunked(b"%x;a \r\n%s\r\n0\r\n\r\n" % (len(setting), setting)), 400),
        ("chunk extension with an empty value", chunked(b"%x;a=\r\n%s\r\n0\r\n\r\n" % (len(setting), setting)), 400),
        ("chunk extension with an unterminated quote", chunked(b'%x;a="b\r\n%s\r\n0\r\n\r\n' % (len(setting), setting)), 400),
        ("chunk extension value with a space", chunked(b"%x;a=b c\r\n%s\r\n0\r\n\r\n" % (len(setting), setting)), 400),
    ]
    for name, payload, statuses in cases:
        expect_error(port, name, payload, statuses)

    # errors that leave the framing intact keep the connection
    for name, payload, status, code in [
        ("unknown route", req(b"GET /nope HTTP/1.1"), 404, "not_found"),
        ("unknown method", req(b"BREW /healthz HTTP/1.1"), 405, "method_not_allowed"),
        ("trailing slash is another path", req(b"GET /healthz/ HTTP/1.1"), 404, "not_found"),
        ("dot segments are not normalised", req(b"GET /v1/../healthz HTTP/1.1"), 404, "not_found"),
        ("JSON endpoint without Content-Type", post(auth, b"{}", ctype=None), 415, "unsupported_media_type"),
        ("JSON endpoint, wrong Content-Type", post(auth, b"{}", ctype=b"text/plain"), 415, "unsupported_media_type"),
        ("JSON endpoint, empty body", post(auth, b""), 400, "bad_request"),
        ("JSON endpoint, invalid UTF-8", post(auth, b'{"key":"a","value":"\xff\xfe"}'), 400, "bad_request"),
        ("JSON endpoint, duplicate keys", post(auth, b'{"key":"a","key":"b","value":"xyz"}'), 400, "bad_request"),
        ("JSON endpoint, deep nesting", post(auth, b"[" * 2000 + b"]" * 2000), 400, "bad_request"),
        ("JSON endpoint, NUL in a key", post(auth, b'{"key":"a\\u0000b","value":"x"}'), 400, "invalid_request"),
        ("JSON endpoint, trailing garbage", post(auth, b'{"key":"a","value":"x"} {}'), 400, "bad_request"),
    ]:
        s = connect(port)
        try:
            s.sendall(payload + req(b"GET /healthz HTTP/1.1"))
            data = b""
            end = time.monotonic() + 5
            while time.monotonic() < end and data.count(b"HTTP/1.1 ") < 2:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                data += chunk
            resps = parse_responses(data)
        finally:
            s.close()
        if len(resps) != 2 or resps[0][0] != status or resps[1][0] != 200:
            report(False, name, f"got {[r[0] for r in resps]}, want [{status}, 200] on one connection")
            continue
        why = json_error_ok(*resps[0])
        if why is None and json.loads(resps[0][2])["error"] != code:
            why = f"error code {json.loads(resps[0][2])['error']!r}, want {code!r}"
        report(why is None, name, why or "")

    # a client that connects and leaves, or sends half a line and leaves
    for payload in (b"", b"GET /hea"):
        s = connect(port)
        if payload:
            s.sendall(payload)
        s.close()
    resps, _ = exchange(port, req(b"GET /healthz HTTP/1.1", b"Connection: close\r\n"))
    report(len(resps) == 1 and resps[0][0] == 200, "still serving after hostile input",
           f"got {[r[0] for r in resps]}")


def cmd_valid(port, token):
    auth = b"Authorization: Bearer " + token.encode() + b"\r\n"
    body = b'{"key":"chunked.key","value":"chunked value"}'
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
    chunked += b"0\r\nX-Trailer: ignored\r\n\r\n"
    checks = [
        ("chunked JSON body",
         req(b"POST /v1/admin/settings HTTP/1.1", auth + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n", chunked),
         [200], False),
        ("pipelined requests", req(b"GET /healthz HTTP/1.1") + req(b"GET /metrics HTTP/1.1") +
         req(b"GET /healthz HTTP/1.1", b"Connection: close\r\n"), [200, 200, 200], False),
        ("HEAD", req(b"HEAD /healthz HTTP/1.1", b"Connection: close\r\n"), [200], True),
        ("HTTP/1.0 without Host", b"GET /healthz HTTP/1.0\r\n\r\n", [200], False),
        ("empty lines before the request", b"\r\n\r\n" + req(b"GET /healthz HTTP/1.1", b"Connection: close\r\n"), [200], False),
        ("Expect: 100-continue",
         req(b"POST /v1/admin/settings HTTP/1.1", auth + b"Content-Type: application/json\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n" % len(body), body),
         [100, 200], False),
        ("chunk extensions are ignored",
         req(b"POST /v1/admin/settings HTTP/1.1", auth + b"Content-Type: application/json; charset=utf-8\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n",
             b"%x;name=value\r\n%s\r\n0\r\n\r\n" % (len(body), body)),
         [200], False),
        ("chunk extensions with whitespace and quoted values",
         req(b"POST /v1/admin/settings HTTP/1.1", auth + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n",
             b'%x ; a = 1 ;b="q \\" s\t\xe9";c\r\n%s\r\n0;last\r\n\r\n' % (len(body), body)),
         [200], False),
        ("trailer fields with HTAB, obs-text and empty values",
         req(b"POST /v1/admin/settings HTTP/1.1", auth + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n",
             b"%x\r\n%s\r\n0\r\nX-A: a\tb \xe9\r\nX-B:\r\nX-C:  c  \r\n\r\n" % (len(body), body)),
         [200], False),
    ]
    for name, payload, want, head_only in checks:
        try:
            resps, eof = exchange(port, payload, head_only=head_only)
        except Exception as e:  # noqa: BLE001
            report(False, name, repr(e))
            continue
        got = [r[0] for r in resps]
        ok = got == want and eof
        why = f"statuses {got}, want {want}; closed={eof}"
        if ok and name == "HEAD":
            h = resps[0][1]
            ok = h.get("content-length") == "15" and h.get("content-type") == "application/json"
            why = f"HEAD headers {h}"
        if ok and name == "chunked JSON body":
            ok = json.loads(resps[0][2]) == {"key": "chunked.key", "value": "chunked value"}
            why = f"body {resps[0][2]!r}"
        if ok and name != "HEAD":
            ok = all("x-request-id" in r[1] for r in resps if r[0] >= 200)
            why = "missing X-Request-Id"
        report(ok, name, why)


def cmd_slowloris(port, seconds):
    t = float(seconds)
    results = {}

    def stalled():
        s = connect(port, timeout=t + 5)
        start = time.monotonic()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        data, eof = read_all(s, t + 4)
        results["stalled"] = (time.monotonic() - start, data, eof)
        s.close()

    def trickled():
        # one byte every 0.25 s: activity never stops, the deadline still holds
        s = connect(port, timeout=t + 5)
        start = time.monotonic()
        head = b"GET /healthz HTTP/1.1\r\nHost: test\r\n" + b"X-Trickle: " + b"a" * 400
        data = b""
        for i in range(len(head)):
            try:
                s.sendall(head[i:i + 1])
            except OSError:
                break
            s.settimeout(0.25)
            try:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            except socket.timeout:
                pass
            except OSError:
                break
            if time.monotonic() - start > t + 5:
                break
        rest, eof = read_all(s, 2)
        results["trickled"] = (time.monotonic() - start, data + rest, True)
        s.close()

    threads = [threading.Thread(target=stalled), threading.Thread(target=trickled)]
    for th in threads:
        th.start()
    time.sleep(0.3)
    # meanwhile, other clients are served at once
    served = 0
    slow = 0.0
    for _ in range(5):
        start = time.monotonic()
        resps, _ = exchange(port, req(b"GET /healthz HTTP/1.1", b"Connection: close\r\n"))
        slow = max(slow, time.monotonic() - start)
        if len(resps) == 1 and resps[0][0] == 200:
            served += 1
        time.sleep(0.1)
    report(served == 5 and slow < 1.0, "other clients served while slow clients hold connections",
           f"{served}/5 served, slowest {slow:.2f}s")
    for th in threads:
        th.join()
    for name in ("stalled", "trickled"):
        elapsed, data, eof = results[name]
        resps = parse_responses(data)
        ok = len(resps) == 1 and resps[0][0] == 408 and json_error_ok(*resps[0]) is None
        ok = ok and t - 0.3 <= elapsed <= t + 2.5 and eof
        report(ok, f"slowloris ({name} head) cut off after header_timeout",
               f"after {elapsed:.2f}s, statuses {[r[0] for r in resps]}, eof={eof}")


def cmd_slowbody(port, seconds, token):
    t = float(seconds)
    s = connect(port, timeout=t + 5)
    start = time.monotonic()
    # a body is read only for a routed, authorised request
    s.sendall(req(b"POST /v1/admin/settings HTTP/1.1",
                  b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 100\r\n", b"0123456789"))
    data, eof = read_all(s, t + 4)
    elapsed = time.monotonic() - start
    s.close()
    resps = parse_responses(data)
    ok = len(resps) == 1 and resps[0][0] == 408 and json_error_ok(*resps[0]) is None and eof
    report(ok and t - 0.3 <= elapsed <= t + 2.5, "stalled body cut off after body_timeout",
           f"after {elapsed:.2f}s, statuses {[r[0] for r in resps]}")


def cmd_maxconn(port, n):
    n = int(n)
    held = [connect(port) for _ in range(n)]
    time.sleep(0.3)
    try:
        resps, eof = exchange(port, req(b"GET /healthz HTTP/1.1"), deadline=3)
        ok = len(resps) == 1 and resps[0][0] == 503 and json_error_ok(*resps[0]) is None and eof
        report(ok, f"connection {n + 1} refused with 503 JSON while {n} are open",
               f"statuses {[r[0] for r in resps]}, eof={eof}")
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    resps, _ = exchange(port, req(b"GET /healthz HTTP/1.1", b"Connection: close\r\n"))
    report(len(resps) == 1 and resps[0][0] == 200, "served again once connections closed",
           f"statuses {[r[0] for r in resps]}")


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? '
                    r'(-?[0-9.]+(e[+-]?[0-9]+)?|\+Inf|-Inf|NaN)$')


def cmd_metrics(port):
    resps, _ = exchange(port, req(b"GET /metrics HTTP/1.1", b"Connection: close\r\n"))
    if len(resps) != 1 or resps[0][0] != 200:
        report(False, "metrics answered", f"statuses {[r[0] for r in resps]}")
        return
    status, headers, body = resps[0]
    report(headers.get("content-type", "").startswith("text/plain; version=0.0.4"), "metrics content type",
           headers.get("content-type", ""))
    text = body.decode()
    bad = []
    typed = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            typed[name] = kind
        elif line.startswith("# HELP ") or line == "":
            continue
        elif not SAMPLE.match(line):
            bad.append(line)
    report(not bad and text.endswith("\n"), "metrics lines are valid exposition format", f"bad lines: {bad[:3]}")
    for name, kind in [("mandate_http_requests_total", "counter"),
                       ("mandate_http_request_duration_seconds", "histogram"),
                       ("mandate_decisions_total", "counter"), ("mandate_tokens_issued_total", "counter"),
                       ("mandate_attestation_failures_total", "counter")]:
        report(typed.get(name) == kind, f"metrics family {name} ({kind})", f"TYPE is {typed.get(name)}")
    for want in ['mandate_http_requests_total{route="/healthz",code="200"} ',
                 'mandate_http_request_duration_seconds_bucket{route="/healthz",le="+Inf"} ',
                 'mandate_http_request_duration_seconds_count{route="/healthz"} ',
                 'mandate_decisions_total{decision="allow"} 0', 'mandate_decisions_total{decision="deny"} 0',
                 "mandate_tokens_issued_total 0", "mandate_attestation_failures_total{reason=\"no_match\"} 0"]:
        report(want in text, f"metrics has {want.strip()}", "missing")
    # histogram buckets are cumulative and end at the count
    buckets = [int(m.group(1)) for m in re.finditer(r'duration_seconds_bucket\{route="/healthz",le="[^"]+"\} (\d+)', text)]
    count = re.search(r'duration_seconds_count\{route="/healthz"\} (\d+)', text)
    report(buckets == sorted(buckets) and count and buckets[-1] == int(count.group(1)),
           "histogram buckets cumulative", f"{buckets} vs {count.group(1) if count else None}")


def cmd_inflight(port, pid, token):
    pid = int(pid)
    body = b'{"key":"inflight","value":"finished during shutdown"}'
    s = connect(port, timeout=10)
    head = req(b"POST /v1/admin/settings HTTP/1.1",
               b"Authorization: Bearer " + token.encode() + b"\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n" % len(body))
    s.sendall(head + body[:10])
    time.sleep(0.3)
    os.kill(pid, signal.SIGTERM)
    # the listening socket closes at once
    refused = False
    end = time.monotonic() + 3
    while time.monotonic() < end:
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=0.5)
            c.close()
            time.sleep(0.1)
        except OSError:
            refused = True
            break
    report(refused, "port closed at once on SIGTERM", "new connections still accepted")
    s.sendall(body[10:])
    data, eof = read_all(s, 5)
    s.close()
    resps = parse_responses(data)
    ok = len(resps) == 1 and resps[0][0] == 200 and resps[0][1].get("connection") == "close"
    report(ok, "request in flight at SIGTERM completes (Connection: close)",
           f"statuses {[r[0] for r in resps]}, headers {resps[0][1] if resps else None}")


def wait_log(log, text, before, seconds=5):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with open(log, encoding="utf-8", errors="replace") as f:
            if f.read().count(text) > before:
                return True
        time.sleep(0.05)
    return False


def cmd_reload_inflight(port, pid, conf, log, token):
    """A request that started before a reload keeps the limits it started with."""
    pid = int(pid)
    with open(conf) as f:
        orig = f.read()
    if "max_body: 4KiB" not in orig:
        report(False, "reload during a request", "the config has no `max_body: 4KiB` to change")
        return
    body = b"x" * 2000
    head = req(b"POST /v1/admin/settings HTTP/1.1",
               b"Authorization: Bearer " + token.encode() + b"\r\nContent-Type: application/json\r\n"
               b"Connection: close\r\nContent-Length: %d\r\n" % len(body))
    s = connect(port, timeout=10)
    s.sendall(head + body[:100])
    time.sleep(0.2)
    with open(log, encoding="utf-8", errors="replace") as f:
        before = f.read().count("configuration reloaded")
    with open(conf, "w") as f:
        f.write(orig.replace("max_body: 4KiB", "max_body: 1KiB"))
    os.kill(pid, signal.SIGHUP)
    reloaded = wait_log(log, "configuration reloaded", before)
    s.sendall(body[100:])
    data, eof = read_all(s, 5)
    s.close()
    resps = parse_responses(data)
    # under the old 4 KiB limit the body is read and the handler runs (400: it is not JSON);
    # under the new 1 KiB limit it would be 413
    report(reloaded and [r[0] for r in resps] == [400], "a request in flight keeps the limits it started with",
           f"reloaded={reloaded}, statuses {[r[0] for r in resps]}")
    resps, _ = exchange(port, head + body)
    report([r[0] for r in resps] == [413], "a new request gets the reloaded limit", f"statuses {[r[0] for r in resps]}")
    with open(conf, "w") as f:
        f.write(orig)
    with open(log, encoding="utf-8", errors="replace") as f:
        before = f.read().count("configuration reloaded")
    os.kill(pid, signal.SIGHUP)
    report(wait_log(log, "configuration reloaded", before), "reloaded back", "no reload logged")


def vm_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise ValueError(f"no {field} for pid {pid}")


def cmd_early(port, pid):
    """Requests the server will refuse are refused from their head: the body is never read.

    The daemon runs with a large limits.max_body (8 MiB): were refused bodies read, every
    connection could make it buffer that much before answering."""
    pid = int(pid)
    big = 6 * 1024 * 1024
    setting = b"POST /v1/admin/settings HTTP/1.1"
    json_ct = b"Content-Type: application/json\r\n"
    wrong = b"Authorization: Bearer " + b"A" * 43 + b"\r\n"
    cases = [
        ("no token, Content-Length", setting, json_ct + b"Content-Length: %d\r\n" % big, 401),
        ("no token, Content-Length, Expect: 100-continue", setting,
         json_ct + b"Expect: 100-continue\r\nContent-Length: %d\r\n" % big, 401),
        ("no token, chunked", setting, json_ct + b"Transfer-Encoding: chunked\r\n", 401),
        ("no token, chunked, Expect: 100-continue", setting,
         json_ct + b"Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n", 401),
        ("wrong token, Content-Length", setting, wrong + json_ct + b"Content-Length: %d\r\n" % big, 401),
        ("wrong token, Expect: 100-continue", setting,
         wrong + json_ct + b"Expect: 100-continue\r\nContent-Length: %d\r\n" % big, 401),
        ("malformed Authorization, Content-Length", setting,
         b"Authorization: Basic eDp5\r\n" + json_ct + b"Content-Length: %d\r\n" % big, 401),
        ("unknown route, Content-Length", b"POST /v1/nope HTTP/1.1", b"Content-Length: %d\r\n" % big, 404),
        ("unknown route, Expect: 100-continue", b"POST /v1/nope HTTP/1.1",
         b"Expect: 100-continue\r\nContent-Length: %d\r\n" % big, 404),
        ("wrong method, Content-Length", b"PUT /v1/admin/settings HTTP/1.1", b"Content-Length: %d\r\n" % big, 405),
        ("wrong method, chunked", b"POST /healthz HTTP/1.1", b"Transfer-Encoding: chunked\r\n", 405),
    ]
    for name, line, headers, status in cases:
        # only the head is sent: the answer must come without the body, and before any 100 Continue
        s = connect(port, timeout=3)
        start = time.monotonic()
        try:
            s.sendall(req(line, headers))
            data, eof = read_all(s, 1.5)
        finally:
            s.close()
        elapsed = time.monotonic() - start
        try:
            resps = parse_responses(data)
        except ValueError as e:
            report(False, f"{name}: answered from the head", repr(e))
            continue
        got = [r[0] for r in resps]
        why = None
        if got != [status]:
            why = f"statuses {got} before the body was sent, want [{status}] (and never 100 first)"
        else:
            why = json_error_ok(*resps[0])
            if why is None and resps[0][1].get("connection") != "close":
                why = "no Connection: close (the unread body would be read as the next request)"
            if why is None and not eof:
                why = "the connection was not closed"
        report(why is None, f"{name}: {status} from the head, connection closed",
               (why or "") + f" (after {elapsed:.2f}s)")

    # several clients at once push a 7 MiB body each at the admin route without a token: the
    # daemon's peak memory must not grow by the bodies it refused.  Reading them would add at
    # least their total (56 MiB; about twice that as the buffers double); refusing them costs
    # the lingering reads (at most 1 MiB a connection), freed at once, though an ASan build
    # keeps freed memory in quarantine a while: so the bound is half the bodies' total.
    n = 8
    big = 7 * 1024 * 1024
    bound_kib = n * big // 1024 // 2
    hwm_before = vm_kib(pid, "VmHWM")
    statuses = []
    lock = threading.Lock()

    def pusher():
        s = connect(port, timeout=5)
        got = b""
        try:
            s.sendall(req(setting, json_ct + b"Content-Length: %d\r\n" % big))
            s.settimeout(0.3)
            try:
                got = s.recv(65536)  # the refusal, if it comes before the body
            except socket.timeout:
                pass
            s.settimeout(5)
            piece = b"x" * 65536
            try:
                for _ in range(big // len(piece)):
                    s.sendall(piece)
            except OSError:
                pass  # refused and closed: expected
            try:
                rest, _ = read_all(s, 3)
                got += rest
            except OSError:
                pass
        finally:
            s.close()
        m = re.match(rb"HTTP/1\.1 (\d{3}) ", got)
        with lock:
            statuses.append(int(m.group(1)) if m else None)

    threads = [threading.Thread(target=pusher) for _ in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    grown = vm_kib(pid, "VmHWM") - hwm_before
    report(grown < bound_kib,
           f"{n} unauthenticated {big >> 20} MiB bodies at once: peak RSS grew {grown // 1024} MiB (< {bound_kib // 1024})",
           f"it grew by {grown} KiB: the refused bodies were read")
    report(statuses.count(401) == n, f"{n} unauthenticated bodies at once: all answered 401", f"statuses {statuses}")
    resps, _ = exchange(port, req(b"GET /healthz HTTP/1.1", b"Connection: close\r\n"))
    report([r[0] for r in resps] == [200], "still serving after the refused bodies", f"statuses {[r[0] for r in resps]}")


def tls_exchange(ctx, port, payload, deadline=3.0):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=deadline),
                        server_hostname="127.0.0.1")
    try:
        s.sendall(payload)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ssl.SSLError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return parse_responses(data)


def tls_connections(ctx, port):
    """mandate_http_connections as /metrics reports it (counting the asking connection), or None."""
    try:
        resps = tls_exchange(ctx, port, req(b"GET /metrics HTTP/1.1", b"Connection: close\r\n"))
    except OSError:
        return None
    if len(resps) != 1 or resps[0][0] != 200:
        return None
    m = re.search(rb"^mandate_http_connections (\d+)$", resps[0][2], re.M)
    return int(m.group(1)) if m else None


def cmd_tlsleak(port, cafile, n):
    """TLS clients that send one request and close at once must not hold their connection."""
    n = int(n)
    ctx = ssl.create_default_context(cafile=cafile)
    base = tls_connections(ctx, port)
    if base is None:
        report(False, "TLS /metrics before", "no mandate_http_connections")
        return
    refused = 0
    for i in range(n):
        try:
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=3), server_hostname="127.0.0.1")
            s.sendall(req(b"GET /healthz HTTP/1.1"))
            if i % 3 == 1:
                s.sendall(req(b"GET /metrics HTTP/1.1"))  # pipelined: two answers to write
            if i % 3 == 2:
                socket.socket.shutdown(s, socket.SHUT_WR)  # FIN without close_notify, then close
            s.close()
        except OSError:
            refused += 1  # the server is full: what the leak leads to
    now = None
    end = time.monotonic() + 3
    while time.monotonic() < end:
        now = tls_connections(ctx, port)
        if now == base:
            break
        time.sleep(0.2)
    report(now == base, f"{n} TLS clients that sent a request and closed: connections back to {base}",
           f"mandate_http_connections {now} (was {base}); {refused} of the {n} clients refused")
    served = 0
    for _ in range(2 * n):
        try:
            resps = tls_exchange(ctx, port, req(b"GET /healthz HTTP/1.1", b"Connection: close\r\n"))
            served += [r[0] for r in resps] == [200]
        except OSError:
            pass
    report(served == 2 * n, f"then {2 * n} TLS clients in a row are served", f"{served} served")


def cmd_mutate(port, token, n, seed=None):
    """Mutation fuzzing of the framing and routing, against the live daemon."""
    import random
    n = int(n)
    seed = int(seed) if seed is not None else random.randrange(1 << 30)
    print(f"# mutate: seed {seed} (replay: rawhttp.py mutate PORT TOKEN {n} {seed})", flush=True)
    rnd = random.Random(seed)
    auth = f"Authorization: Bearer {token}\r\n".encode()
    body = b'{"key":"fuzz.k","value":"v"}'
    seeds = [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/admin/status HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n",
        b"POST /v1/admin/settings HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\n"
        + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body,
        b"POST /v1/admin/settings HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\n"
        + b"Transfer-Encoding: chunked\r\n\r\n" + format(len(body), "x").encode() + b"\r\n" + body + b"\r\n0\r\n\r\n",
        b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a.b.c\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\n\r\n{}",
        b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 14\r\n\r\ngrant_type=x&a",
        b"GET /v1/admin/agents/spiffe%3A%2F%2Fexample.org%2Fx HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    specials = [b"\r", b"\n", b"\r\n", b"\x00", b" ", b"\t", b":", b"%", b"%00", b"\xff", b"0", b"-1",
                b"ffffffffffffffff", b"99999999999999999999", b";ext=1", b"\r\n\r\n", b"chunked", b"Host: y\r\n",
                b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n", b"Expect: 100-continue\r\n"]

    def mutate(data):
        data = bytearray(data)
        for _ in range(rnd.randint(1, 4)):
            op = rnd.randrange(6)
            pos = rnd.randrange(len(data) + 1)
            if op == 0 and data:
                i = rnd.randrange(len(data))
                data[i] ^= 1 << rnd.randrange(8)
            elif op == 1:
                data[pos:pos] = rnd.choice(specials)
            elif op == 2 and data:
                del data[pos:pos + rnd.randint(1, 8)]
            elif op == 3:
                lines = bytes(data).split(b"\r\n")
                if len(lines) > 2:
                    k = rnd.randrange(len(lines))
                    lines.insert(k, lines[k])
                    data = bytearray(b"\r\n".join(lines))
            elif op == 4:
                data = data[:pos]
            else:
                data[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
        return bytes(data)

    cases = [mutate(rnd.choice(seeds)) for _ in range(n)]
    problems, statuses = [], {}
    lock = threading.Lock()

    def run(items):
        for payload in items:
            try:
                s = connect(port, timeout=3.0)
                try:
                    s.sendall(payload)
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                data, _ = read_all(s, 3.0)
                s.close()
                resps = parse_responses(data)
            except Exception as e:  # noqa: BLE001
                with lock:
                    problems.append(f"{payload[:60]!r}: {e!r}")
                continue
            for st, hd, bd in resps:
                with lock:
                    statuses[st] = statuses.get(st, 0) + 1
                if st >= 400:
                    why = json_error_ok(st, hd, bd)
                    if why:
                        with lock:
                            problems.append(f"{payload[:60]!r}: {st} {why}")
                if st >= 500 and st not in (501, 503, 505):
                    with lock:
                        problems.append(f"{payload[:60]!r}: unexpected {st}")
    threads = [threading.Thread(target=run, args=(cases[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("# statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())), flush=True)
    report(not problems, f"{n} mutated requests: every answer well-formed, every error a JSON body, no unexpected 5xx",
           "; ".join(problems[:5]))
    report(sum(statuses.values()) > n // 4, "...most of them were answered", f"{sum(statuses.values())} answers")
    try:
        resps, _ = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        up = [r[0] for r in resps] == [200]
    except OSError as e:
        up = False
    report(up, "...and the daemon still serves", "no 200 from /healthz")


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    cmd, port, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    {"malformed": cmd_malformed, "valid": cmd_valid, "slowloris": cmd_slowloris, "slowbody": cmd_slowbody,
     "maxconn": cmd_maxconn, "metrics": cmd_metrics, "inflight": cmd_inflight,
     "reload-inflight": cmd_reload_inflight, "early": cmd_early, "tlsleak": cmd_tlsleak,
     "mutate": cmd_mutate}[cmd](port, *args)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
