"""harness/records.py: the @tt record protocol, strict."""
import pytest

from harness.errors import RecordError
from harness.records import parse_records, scan_records

GOOD = """boot text from the firmware
@tt {"t":"boot","n":1024}
a line that mentions @tt {"t":"x"} in the middle is human text
@tt {"t":"fault","kind":"stack_overflow","pc":123,"lr":-4}
@tt {"t":"done"}
"""


def test_records_are_parsed_in_order_and_text_is_ignored():
    recs = parse_records(GOOD)
    assert recs == [{"t": "boot", "n": 1024},
                    {"t": "fault", "kind": "stack_overflow", "pc": 123, "lr": -4},
                    {"t": "done"}]


def test_crlf_and_big_integers():
    assert parse_records('@tt {"t":"params","sum":18446744073709551615}\r\n') == [
        {"t": "params", "sum": 2**64 - 1}]


@pytest.mark.parametrize("line, why", [
    ('@tt {"t":"result","dot":}', "invalid JSON"),
    ('@tt {"dot":3}', 'missing the record type "t"'),
    ('@tt {"t":"","dot":3}', 'missing the record type "t"'),
    ('@tt {"t":"epoch","loss":0.25}', "value of 'loss' is float"),
    ('@tt {"t":"epoch","ok":true}', "value of 'ok' is bool"),
    ('@tt {"t":"epoch","x":null}', "value of 'x' is null"),
    ('@tt {"t":"epoch","x":[1,2]}', "value of 'x' is list"),
    ('@tt {"t":"epoch","x":NaN}', "NaN is not a number"),
    ('@tt {"t":"a","t":"b"}', "key 't' appears twice"),
    ('@tt [1,2]', "expected a JSON object"),
    ('@tt{"t":"a"}', "starts with '@tt '"),
])
def test_malformed_record_names_line_number_cause_and_text(line, why):
    text = f"hello\n@tt {{\"t\":\"boot\"}}\n{line}\n@tt {{\"t\":\"done\"}}\n"
    with pytest.raises(RecordError) as e:
        parse_records(text)
    msg = str(e.value)
    assert msg.startswith("console line 3: malformed record (")
    assert why in msg
    assert line in msg
    assert "tt_rec_begin" in msg  # the fix points at the C API


def test_scan_keeps_good_records_and_reports_first_error():
    recs, err = scan_records('@tt {"t":"a"}\n@tt {bad\n@tt {"t":"b"}\n@tt {"t":1}\n')
    assert recs == [{"t": "a"}, {"t": "b"}]
    assert err is not None and err.message.startswith("console line 2:")
