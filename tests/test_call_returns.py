"""TDI requests and Winsock calls record what they returned (``call.return``), as WSK requests
do, so ``expect.statuses`` and trace patterns read all three areas alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.patterns import record_fields, status_label
from harness.runner import run_scenario
from harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def _returns(path: str) -> list[tuple[str, int]]:
    result = run_scenario(load_scenario(ROOT / path))
    assert result.passed, result.failures
    return [(str(fields[0]), int(fields[1])) for fields in
            (record_fields(r) for r in result.trace or [] if r[3] == "call.return")]


def test_tdi_requests_are_recorded_by_minor_function_with_their_status() -> None:
    returns = _returns("scenarios/tdi/refuses_registration.yaml")
    names = {name for name, _ in returns}
    assert names == {"TDI_SET_EVENT_HANDLER", "TDI_SEND"}
    assert ("TDI_SET_EVENT_HANDLER", 0xC000000D) in returns  # STATUS_INVALID_PARAMETER
    assert ("TDI_SEND", 0xC00000A3) in returns  # STATUS_DEVICE_NOT_READY
    assert ("TDI_SEND", 0) in returns


def test_winsock_calls_record_zero_or_their_last_error() -> None:
    returns = _returns("scenarios/winsock/change_aborted_by_shutdown.yaml")
    assert returns[:2] == [("connect", 0), ("WSAIoctl", 997)]  # the CHANGE pends
    assert ("WSAGetOverlappedResult", 995) in returns  # WSA_OPERATION_ABORTED
    assert ("shutdown", 0) in returns
    assert ("WSAIoctl", 10058) in returns  # WSAESHUTDOWN: a CHANGE after shutdown(SD_SEND)


def test_statuses_are_named_as_ntstatus_or_winsock_errors() -> None:
    assert status_label(997) == "WSA_IO_PENDING"
    assert status_label(10058) == "WSAESHUTDOWN"
    assert status_label(0xC00000A3) == "STATUS_DEVICE_NOT_READY"
    assert status_label(0x1234567) == "0x01234567"


def test_an_unknown_winsock_error_name_is_a_load_error(tmp_path: Path) -> None:
    text = (ROOT / "scenarios/winsock/change_aborted_by_close.yaml").read_text(encoding="utf-8")
    path = tmp_path / "typo.yaml"
    path.write_text(text.replace("status: WSA_IO_PENDING", "status: WSA_IO_PENDNG"),
                    encoding="utf-8")
    with pytest.raises(ScenarioError, match="WSA_IO_PENDNG") as caught:
        load_scenario(path)
    assert "did you mean 'WSA_IO_PENDING'" in str(caught.value.hint)
