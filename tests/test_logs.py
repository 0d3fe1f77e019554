import io
import json
import logging

from gateway.logs import configure, event, get_logger


def test_logfmt_line_has_fields_and_quotes_spaces() -> None:
    stream = io.StringIO()
    configure("logfmt", "info", stream)
    event(get_logger("smtp"), logging.INFO, "accepted", queue_id="ABC", reason="size ok", upn=None)
    line = stream.getvalue()
    assert line.count("\n") == 1
    assert " level=info logger=smtp event=accepted queue_id=ABC reason=\"size ok\"\n" in line
    assert "upn=" not in line


def test_json_line_is_one_object() -> None:
    stream = io.StringIO()
    configure("json", "debug", stream)
    event(get_logger("pipeline"), logging.WARNING, "quarantined", queue_id="Q1", reason="bad\nline")
    record = json.loads(stream.getvalue())
    assert record["logger"] == "pipeline"
    assert record["event"] == "quarantined"
    assert record["reason"] == "bad\nline"
    assert record["level"] == "warning"


def test_level_filters_lower_events() -> None:
    stream = io.StringIO()
    configure("logfmt", "warning", stream)
    event(get_logger("smtp"), logging.INFO, "accepted")
    assert stream.getvalue() == ""
