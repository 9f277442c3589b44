"""The simulated Gateway's TWS API socket server (ibpilot.sim.api) against REAL clients: ib_async and ibapi.

Facts under test: ../shared/tws-api.md (§6 checklist) and sim/API.md.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _apiserver import (
    ApiServerProc,
    classpath,
    closed_by_peer,
    frame,
    ibapi_client,
    peer_handshake,
    peer_ib_connect,
    raw_handshake,
    read_frame,
)
from ib_async import IB, MarketOrder, Stock, util
from ibapi.contract import Contract as IbapiContract  # type: ignore[import-untyped]
from ibapi.order import Order as IbapiOrder  # type: ignore[import-untyped]

from ibpilot.testing import NetnsPeer, netns_peer, wait_until

pytestmark = pytest.mark.integration

ACCOUNTS = "DU1111111,DU2222222"


def aapl() -> Stock:
    return Stock("AAPL", "SMART", "USD", conId=265598)


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> str:
    path, how = classpath(tmp_path_factory.mktemp("api"))
    print(f"ApiServerMain classpath from {how}: {path}")
    return path


StartFn = Callable[..., ApiServerProc]


@pytest.fixture
def start_server(cp: str) -> Iterator[StartFn]:
    procs: list[ApiServerProc] = []

    def start(*args: str) -> ApiServerProc:
        p = ApiServerProc(cp, *args)
        procs.append(p)
        return p

    try:
        yield start
    finally:
        for p in procs:
            p.close()


@pytest.fixture
def server(start_server: StartFn) -> ApiServerProc:
    return start_server("--accounts", ACCOUNTS)


def connect_ib(port: int, client_id: int, *, readonly: bool = False, timeout: float = 5, host: str = "127.0.0.1") -> IB:
    ib = IB()
    # raiseSyncErrors: any start-up request left unanswered fails the connect (instead of a logged timeout)
    ib.connect(host, port, clientId=client_id, timeout=timeout, readonly=readonly, raiseSyncErrors=True)
    return ib


# ---------------------------------------------------------------- handshake and start-up


def test_handshake_reply_alone_then_startapi_answers(server: ApiServerProc) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        reply = raw_handshake(s, "v100..226")
        assert reply is not None and len(reply) == 2 and reply[0] == "176", reply
        # pitfall 1: nothing else until startApi
        assert not closed_by_peer(s, 0.3)
        s.settimeout(0.05)
        with pytest.raises(TimeoutError):
            s.recv(1)
        s.sendall(frame(71, 2, 5, ""))
        got = [read_frame(s, 5) for _ in range(5)]
        assert got[0] == ["15", "1", ACCOUNTS]
        assert got[1] is not None and got[1][:2] == ["9", "1"] and len(got[1]) == 3
        assert [g[3] for g in got[2:] if g] == ["2104", "2106", "2158"]
        assert all(g is not None and len(g) == 6 and g[-1] == "" for g in got[2:])  # advancedOrderRejectJson
        s.sendall(frame(99, 0))  # completed orders: no version field either way
        assert read_frame(s, 5) == ["102"]
        s.sendall(frame(76, 1, 42, "DU2222222", "", 0))
        rows = []
        while (f := read_frame(s, 5)) is not None and f[0] == "73":
            rows.append(f)
        assert rows and f == ["74", "1", "42"]
        s.sendall(frame(7, 3, 43, 0, "", "", "", "", "", ""))
        assert read_frame(s, 5) == ["55", "1", "43"]
    server.wait_event("api_disconnect", client_id=5)


@pytest.mark.parametrize("versions,expected", [("v157..178", "176"), ("v150", "150"), ("v100..160 +PACEAPI", "160")])
def test_version_negotiation(server: ApiServerProc, versions: str, expected: str) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        reply = raw_handshake(s, versions)
        assert reply is not None and reply[0] == expected


def test_no_common_version_closes(server: ApiServerProc) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        body = b"v180..226"
        s.sendall(b"API\0" + struct.pack(">I", len(body)) + body)
        assert closed_by_peer(s, 5)


def test_ib_async_connect_current_time_accounts_disconnect(server: ApiServerProc) -> None:
    t0 = time.perf_counter()
    ib = connect_ib(server.port, 1)
    elapsed = time.perf_counter() - t0
    try:
        assert ib.isConnected()
        assert elapsed < 2.0, f"connect took {elapsed:.2f}s: a sync request went unanswered"
        assert ib.managedAccounts() == ACCOUNTS.split(",")
        now = ib.reqCurrentTime()
        assert abs(now.timestamp() - time.time()) < 10
        assert ib.client.serverVersion() == 176
        ev = server.wait_event("api_connect", client_id=1)
        assert ev["peer"] == "127.0.0.1"
    finally:
        ib.disconnect()
    server.wait_event("api_disconnect", client_id=1, timeout=5)


def test_ib_async_single_account_sync_and_readonly_client(start_server: StartFn) -> None:
    srv = start_server("--accounts", "DU7654321")
    ib = connect_ib(srv.port, 2, readonly=True)
    try:
        assert ib.managedAccounts() == ["DU7654321"]
        # one account → reqAccountUpdates ran during the sync: values arrived
        assert any(v.tag == "NetLiquidation" for v in ib.accountValues())
        assert ib.reqCurrentTime() is not None
        summary = ib.accountSummary()
        assert any(v.tag == "NetLiquidation" and v.account == "DU7654321" for v in summary)
    finally:
        ib.disconnect()
    srv.wait_event("api_disconnect", client_id=2)


def test_ibapi_connect_next_valid_id_accounts_time_disconnect(server: ApiServerProc) -> None:
    t0 = time.perf_counter()
    with ibapi_client(server.port, 3) as app:
        wait_until(lambda: app.next_id is not None and app.accounts is not None, 5, "nextValidId + managedAccounts")
        ready = time.perf_counter() - t0
        assert app.serverVersion() == 176
        assert app.accounts == ACCOUNTS
        assert app.next_id is not None and app.next_id >= 1
        app.reqCurrentTime()
        wait_until(lambda: app.times, 5, "currentTime")
        assert abs(app.times[0] - time.time()) < 10
        assert 2104 in wait_until(lambda: app.codes() if 2158 in app.codes() else None, 5, "farm messages")
        assert ready < 2.0
    server.wait_event("api_connect", client_id=3)
    server.wait_event("api_disconnect", client_id=3, timeout=5)


# ---------------------------------------------------------------- client ids


def test_duplicate_client_id_ib_async(server: ApiServerProc) -> None:
    first = connect_ib(server.port, 7)
    try:
        second = IB()
        errors: list[int] = []
        second.errorEvent += lambda reqId, code, msg, contract: errors.append(code)
        since = server.mark()
        t0 = time.perf_counter()
        with pytest.raises((TimeoutError, asyncio.TimeoutError, ConnectionError)):
            second.connect("127.0.0.1", server.port, clientId=7, timeout=2)
        assert time.perf_counter() - t0 < 5
        second.disconnect()
        assert 326 in errors
        server.wait_event("api_duplicate_client", since=since, client_id=7)
        assert first.isConnected()
        assert first.reqCurrentTime() is not None  # the holder of the id is unaffected
    finally:
        first.disconnect()
    server.wait_event("api_disconnect", client_id=7)
    # freed on disconnect: the id can be used again
    again = connect_ib(server.port, 7)
    again.disconnect()


def test_duplicate_client_id_ibapi_and_freed_after_rst(server: ApiServerProc) -> None:
    with ibapi_client(server.port, 8) as first:
        wait_until(lambda: first.next_id is not None, 5, "first nextValidId")
        with ibapi_client(server.port, 8) as second:
            wait_until(lambda: 326 in second.codes(), 5, "error 326 on the second client")
            err = next(e for e in second.errors if e[1] == 326)
            assert err[0] == -1 and "client id is already in use" in err[2]
            wait_until(second.closed.is_set, 5, "connectionClosed on the second client")
            assert not second.isConnected()
        first.reqCurrentTime()
        wait_until(lambda: first.times, 5, "first still served")
    # ibapi's close is an RST or a late FIN: either way the id is freed
    server.wait_event("api_disconnect", client_id=8, timeout=5)
    with ibapi_client(server.port, 8) as third:
        wait_until(lambda: third.next_id is not None, 5, "reconnect with the same id")


def test_many_concurrent_clients(server: ApiServerProc) -> None:
    async def main() -> list[IB]:
        ibs = [IB() for _ in range(32)]
        await asyncio.gather(
            *(ib.connectAsync("127.0.0.1", server.port, clientId=100 + k, timeout=10) for k, ib in enumerate(ibs))
        )
        return ibs

    ibs = util.run(main())
    try:
        assert all(ib.isConnected() for ib in ibs)
        assert len(server.find("api_connect")) >= 32
    finally:
        for ib in ibs:
            ib.disconnect()
    for k in range(32):
        server.wait_event("api_disconnect", client_id=100 + k, timeout=10)


# ---------------------------------------------------------------- read-only


def test_readonly_place_order_321_ib_async(start_server: StartFn) -> None:
    srv = start_server("--accounts", ACCOUNTS, "--readonly")
    ib = connect_ib(srv.port, 11, readonly=True)
    try:
        errors: list[tuple[int, int]] = []
        ib.errorEvent += lambda reqId, code, msg, contract: errors.append((reqId, code))
        trade = ib.placeOrder(aapl(), MarketOrder("BUY", 1))
        wait_until(lambda: (trade.order.orderId, 321) in errors, 5, "error 321 for the order", sleep=ib.sleep)
        assert ib.isConnected()
        # switch read-only off at runtime: orders now get the simulator's rejection instead
        srv.command("readonly off")
        trade2 = ib.placeOrder(aapl(), MarketOrder("BUY", 1))
        wait_until(lambda: (trade2.order.orderId, 201) in errors, 5, "error 201 once writable", sleep=ib.sleep)
    finally:
        ib.disconnect()


def test_readonly_server_non_readonly_ib_async_times_out_sync(start_server: StartFn) -> None:
    # tws-api.md §4/§5: open/completed orders get 321 (no end message), so the sync waits `timeout`
    srv = start_server("--accounts", ACCOUNTS, "--readonly")
    ib = IB()
    t0 = time.perf_counter()
    ib.connect("127.0.0.1", srv.port, clientId=12, timeout=1)
    try:
        assert 0.9 < time.perf_counter() - t0 < 4
        assert ib.isConnected()
    finally:
        ib.disconnect()


def test_readonly_ibapi_orders_and_open_orders(start_server: StartFn) -> None:
    srv = start_server("--accounts", ACCOUNTS, "--readonly")
    with ibapi_client(srv.port, 13) as app:
        wait_until(lambda: app.next_id is not None, 5, "nextValidId")
        c = IbapiContract()
        c.symbol, c.secType, c.exchange, c.currency = "AAPL", "STK", "SMART", "USD"
        o = IbapiOrder()
        o.action, o.orderType, o.totalQuantity = "BUY", "MKT", 1
        assert app.next_id is not None
        app.placeOrder(app.next_id, c, o)
        wait_until(lambda: any(e[:2] == (app.next_id, 321) for e in app.errors), 5, "321 on placeOrder")
        app.reqOpenOrders()
        wait_until(lambda: sum(1 for e in app.errors if e[:2] == (-1, 321)) >= 1, 5, "321 on reqOpenOrders")
        assert "Read-Only" in next(e[2] for e in app.errors if e[1] == 321)


# ---------------------------------------------------------------- market data


def test_market_data_ticks_ib_async(server: ApiServerProc) -> None:
    ib = connect_ib(server.port, 21)
    try:
        ticker = ib.reqMktData(aapl())
        n = [0]

        def on_update(t: object) -> None:
            n[0] += 1

        ticker.updateEvent += on_update
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:
            ib.sleep(0.05)
        assert n[0] >= 5, f"only {n[0]} ticker updates in 1 s"
        assert 0 < ticker.bid < ticker.ask
        assert ticker.last > 0 and ticker.volume > 0
        assert ticker.marketDataType == 1
        ib.cancelMktData(aapl())
        ib.sleep(0.3)  # in-flight ticks drain
        before = n[0]
        ib.sleep(0.5)
        assert n[0] == before, "ticks kept coming after cancelMktData"
    finally:
        ib.disconnect()


def test_market_data_ibapi_tick_price_and_size(server: ApiServerProc) -> None:
    with ibapi_client(server.port, 22) as app:
        wait_until(lambda: app.next_id is not None, 5, "nextValidId")
        c = IbapiContract()
        c.symbol, c.secType, c.exchange, c.currency = "MSFT", "STK", "SMART", "USD"
        app.reqMktData(1001, c, "", False, False, [])
        wait_until(lambda: len([p for p in app.prices if p[1] == 1]) >= 5, 5, "5 bid ticks")
        with app.lock:
            types = {p[1] for p in app.prices}
            sizes = {s[1] for s in app.sizes}
        assert {1, 2, 4} <= types
        assert {0, 3, 5, 8} <= sizes  # 0/3/5 derived by ibapi from the tickPrice size, 8 = volume
        app.cancelMktData(1001)


def test_contract_details_qualify(server: ApiServerProc) -> None:
    ib = connect_ib(server.port, 23)
    try:
        (aapl,) = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
        assert aapl.conId == 265598 and aapl.primaryExchange == "NASDAQ"
        (det,) = ib.reqContractDetails(Stock("ZZZQ", "SMART", "USD"))
        assert det.contract is not None and det.contract.conId > 0 and det.minTick == 0.01
        assert ib.reqContractDetails(Stock("AAPL", "SMART", "USD", conId=1)) == []  # mismatching conId: error 200
        ticker = ib.reqMktData(aapl)  # a qualified contract streams like any other
        wait_until(lambda: ticker.bid > 0, 5, "a bid for the qualified contract", sleep=ib.sleep)
    finally:
        ib.disconnect()
    with ibapi_client(server.port, 24) as app:
        wait_until(lambda: app.next_id is not None, 5, "nextValidId")
        c = IbapiContract()
        c.symbol, c.secType, c.exchange, c.currency = "MSFT", "STK", "SMART", "USD"
        app.reqContractDetails(77, c)
        wait_until(lambda: 77 in app.details_end, 5, "contractDetailsEnd")
        assert app.details[0][0] == 77 and app.details[0][1].contract.conId == 272093
        assert app.details[0][1].stockType == "COMMON" and str(app.details[0][1].minSize) == "1"


# ---------------------------------------------------------------- silent, stop, peers


def test_silent_server_times_out_ib_async(start_server: StartFn) -> None:
    srv = start_server("--accounts", ACCOUNTS, "--silent")
    ib = IB()
    t0 = time.perf_counter()
    with pytest.raises((TimeoutError, asyncio.TimeoutError)):
        ib.connect("127.0.0.1", srv.port, clientId=31, timeout=1)
    assert time.perf_counter() - t0 < 4
    ib.disconnect()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"API\0" + struct.pack(">I", 9) + b"v100..176")
        assert not closed_by_peer(s, 0.5)  # held open, never answered
    srv.command("silent off")
    ib = connect_ib(srv.port, 31)
    ib.disconnect()


def test_stop_refuses_and_start_rebinds(server: ApiServerProc) -> None:
    ib = connect_ib(server.port, 41)
    disconnected: list[bool] = []
    ib.disconnectedEvent += lambda: disconnected.append(True)
    since = server.mark()
    server.command("stop")
    server.wait_event("api_stopped", since=since)
    server.wait_event("api_disconnect", since=since, client_id=41)

    def sleep(dt: float) -> None:
        try:
            ib.sleep(dt)
        except ConnectionError:  # ib_async raises "Socket disconnect" out of its loop: that is the notice
            disconnected.append(True)

    wait_until(lambda: disconnected or not ib.isConnected(), 5, "client notices the stop", sleep=sleep)
    ib.disconnect()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    # the port is free at once: the same server binds it again
    since = server.mark()
    server.command("start")
    assert server.wait_event("api_listening", since=since)["port"] == server.port
    ib = connect_ib(server.port, 41)
    ib.disconnect()


@pytest.fixture
def netns() -> Iterator[NetnsPeer]:
    with netns_peer() as ns:
        yield ns


def test_peer_rules(start_server: StartFn, netns: NetnsPeer) -> None:
    # the remote peer is a client inside our private network namespace; it reaches the server at host_ip
    ip = netns.peer_ip
    bind = ("--bind", "0.0.0.0")  # 127.0.0.1 (the local client) and host_ip (the namespace's peer)

    # default: localhost only → a remote peer is accepted, then closed
    srv = start_server("--accounts", ACCOUNTS, *bind)
    got = peer_handshake(netns, srv.port)
    assert got["local"] == ip and got["reply"] is None and got["closed"], got
    srv.wait_event("api_rejected", peer=ip, reason="localhost_only")
    assert not srv.find("api_accept_incoming")
    ib = connect_ib(srv.port, 51)  # 127.0.0.1 is always allowed
    ib.disconnect()
    srv.wait_event("api_connect", client_id=51, peer="127.0.0.1")
    assert peer_ib_connect(netns, srv.port, 54, timeout=3)["ok"] is False
    assert not srv.find("api_connect", client_id=54)

    # not localhost-only, peer not trusted, dialog says no
    srv = start_server("--accounts", ACCOUNTS, *bind, "--not-localhost-only")
    got = peer_handshake(netns, srv.port)
    assert got["reply"] is None and got["closed"], got
    srv.wait_event("api_accept_incoming", peer=ip, accepted=False)
    srv.wait_event("api_rejected", peer=ip, reason="declined")
    refused = peer_ib_connect(netns, srv.port, 55, timeout=3)
    assert refused["ok"] is False, refused
    assert not srv.find("api_connect", client_id=55)

    # dialog says yes
    srv = start_server("--accounts", ACCOUNTS, *bind, "--not-localhost-only", "--accept-incoming", "accept")
    got = peer_handshake(netns, srv.port)
    assert got["reply"] is not None and got["reply"][0] == "176" and not got["closed"], got
    ok = peer_ib_connect(netns, srv.port, 52)
    assert ok["ok"] is True and ok["accounts"] == ACCOUNTS.split(","), ok
    srv.wait_event("api_accept_incoming", peer=ip, accepted=True)
    srv.wait_event("api_connect", client_id=52, peer=ip)
    srv.wait_event("api_disconnect", client_id=52)

    # trusted IP: no dialog at all
    srv = start_server("--accounts", ACCOUNTS, *bind, "--not-localhost-only", "--trusted", ip)
    ok = peer_ib_connect(netns, srv.port, 53)
    assert ok["ok"] is True and ok["accounts"] == ACCOUNTS.split(","), ok
    srv.wait_event("api_connect", client_id=53, peer=ip)
    assert not srv.find("api_accept_incoming")


# ---------------------------------------------------------------- robustness


def test_garbage_input_does_not_kill_server(server: ApiServerProc) -> None:
    rnd = random.Random(1234)
    port = server.port

    def conn() -> socket.socket:
        return socket.create_connection(("127.0.0.1", port), timeout=5)

    # random bytes instead of a handshake
    for _ in range(10):
        with conn() as s:
            s.sendall(rnd.randbytes(rnd.randint(1, 4096)))
            assert closed_by_peer(s, 5)
    # API\0 with a huge / negative handshake length
    for n in (0x7FFFFFFF, 0xFFFFFFFF, 0):
        with conn() as s:
            s.sendall(b"API\0" + struct.pack(">I", n))
            assert closed_by_peer(s, 5)
    # valid handshake, then a frame announcing 2 GiB / 17 MiB
    for n in (0x7FFFFFFF, 17 << 20, 0xFFFFFFF0):
        with conn() as s:
            assert raw_handshake(s) is not None
            s.sendall(struct.pack(">I", n) + b"xx")
            assert closed_by_peer(s, 5)
    # valid start, then malformed messages of sane length: ignored, the connection keeps working
    with conn() as s:
        assert raw_handshake(s) is not None
        s.sendall(frame(71, 2, 61, ""))
        for _ in range(5):
            read_frame(s, 5)
        junk = [frame("abc"), frame(1), frame(1, 11), frame(3), frame(9999, 1), frame(""), struct.pack(">I", 0)]
        junk += [struct.pack(">I", 50) + rnd.randbytes(50) for _ in range(20)]
        s.sendall(b"".join(junk))
        s.sendall(frame(49, 1))
        while True:
            f = read_frame(s, 5)
            assert f is not None, "server closed a client over malformed messages"
            if f[0] == "49":
                break
    # partial frames, then hang-ups at every stage
    for cut in (2, 5, 10, 14):
        s = conn()
        s.sendall((b"API\0" + struct.pack(">I", 9) + b"v100..176")[:cut])
        s.close()
    with conn() as s:
        assert raw_handshake(s) is not None
        s.sendall(struct.pack(">I", 100) + b"71\x002\x00")  # a frame cut short, then RST
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # random fuzz after a valid handshake
    for _ in range(20):
        with conn() as s:
            if raw_handshake(s) is None:
                continue
            try:
                s.sendall(rnd.randbytes(rnd.randint(1, 2048)))
            except OSError:
                pass
    assert server.alive()
    ib = connect_ib(port, 62)
    try:
        assert ib.reqCurrentTime() is not None
    finally:
        ib.disconnect()
    with ibapi_client(port, 63) as app:
        wait_until(lambda: app.next_id is not None, 5, "ibapi after garbage")
    assert server.alive()
    wait_until(lambda: not _open_conns(server), 5, "all garbage connections cleaned up")


def _open_conns(server: ApiServerProc) -> int:
    # connections the JVM still holds, from the kernel's view (ESTABLISHED sockets on the server port)
    pid = server.proc.pid
    fds = Path(f"/proc/{pid}/fd")
    inodes = set()
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local_port = int(parts[1].split(":")[1], 16)
            if local_port == server.port and parts[3] == "01" and parts[9] in inodes:
                n += 1
    return n
