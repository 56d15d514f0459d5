"""Data validation names every bad row by line and field; tokenisation masks the prompt for response-only loss."""

import json

import pytest

from workbench.finetune import data
from workbench.finetune.data import DataError, read_dataset


def write(tmp_path, name, text):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def jsonl(*rows):
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def where(dataset):
    return [(e.line, e.field) for e in dataset.errors]


def test_empty_file_is_refused(tmp_path):
    with pytest.raises(DataError, match="empty"):
        read_dataset(write(tmp_path, "a.jsonl", "\n  \n"))


def test_wrong_columns_name_the_columns_found(tmp_path):
    ds = read_dataset(write(tmp_path, "a.jsonl", jsonl({"question": "q", "answer": "a"})))
    assert where(ds) == [(1, None)]
    assert "`question`" in ds.errors[0].message and "`prompt` + `response`" in ds.errors[0].message


def test_bad_json_reports_its_line(tmp_path):
    ds = read_dataset(write(tmp_path, "a.jsonl", jsonl({"prompt": "a", "response": "b"}, '{"prompt": "x",',
                                                       {"prompt": "c", "response": "d"}, "[1, 2]")))
    assert where(ds) == [(2, None), (4, None)]
    assert "bad JSON" in ds.errors[0].message and "JSON object" in ds.errors[1].message
    assert len(ds.rows) == 2


def test_non_utf8_line_is_reported_with_its_line(tmp_path):
    raw = (jsonl({"prompt": "a", "response": "b"}).encode() + b'{"prompt": "caf\xe9", "response": "x"}\n'
           + jsonl({"prompt": "c", "response": "d"}).encode())
    ds = read_dataset(write(tmp_path, "a.jsonl", raw))
    assert where(ds) == [(2, None)] and "UTF-8" in ds.errors[0].message


def test_empty_and_missing_fields_name_line_and_field(tmp_path):
    ds = read_dataset(write(tmp_path, "a.jsonl", jsonl(
        {"prompt": "a", "response": "b"}, {"prompt": "  ", "response": "b"}, {"prompt": "a", "response": ""},
        {"prompt": "a"}, {"prompt": "a", "response": 3})))
    assert where(ds) == [(2, "prompt"), (3, "response"), (4, "response"), (5, "response")]
    with pytest.raises(DataError) as err:
        ds.raise_for_errors()
    assert "line 3, field `response`: empty" in str(err.value) and len(err.value.errors) == 4


def test_too_long_rows_are_errors_with_token_count(tmp_path, smollm2):
    ds = read_dataset(write(tmp_path, "a.jsonl", jsonl({"prompt": "hi", "response": "yo"},
                                                       {"prompt": "hi", "response": "word " * 50})),
                      smollm2.tokenizer, max_length=32)
    assert where(ds) == [(2, "response")] and "longer than the max length 32" in ds.errors[0].message


def test_csv_errors_use_file_lines(tmp_path):
    ds = read_dataset(write(tmp_path, "a.csv", 'text,label\n"good, very",positive\n,negative\nbad,\nok,positive,x\n'
                                               "fine,negative\n"))
    assert ds.format == "classification"
    assert where(ds) == [(3, "text"), (4, "label"), (5, None)]
    assert ds.labels == ["negative", "positive"] and ds.lines == [2, 6]


def test_chat_messages_are_checked_per_message(tmp_path):
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    ds = read_dataset(write(tmp_path, "a.jsonl", jsonl(
        good, {"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "x"}]},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]},
        {"messages": [{"role": "user", "content": "only a question"}]})))
    assert ds.format == "chat"
    assert where(ds) == [(2, "messages[1].role"), (3, "messages[1].content"), (4, "messages")]


def test_txt_rows_are_lines(tmp_path):
    ds = read_dataset(write(tmp_path, "a.txt", "first line\n\nsecond line\n"))
    assert ds.format == "text" and ds.lines == [1, 3] and ds.ok


def test_prompt_response_loss_covers_only_the_response(smollm2):
    tok = smollm2.tokenizer
    ex = data.tokenize_row("prompt_response", {"prompt": "Date: May 1, 2020\nAnswer:", "response": " 2020-05-01"},
                           tok)
    prompt_ids = tok("Date: May 1, 2020\nAnswer:")["input_ids"]
    assert ex["input_ids"][:len(prompt_ids)] == prompt_ids  # generation sees the same prompt ids
    assert ex["labels"][:len(prompt_ids)] == [data.IGNORE_INDEX] * len(prompt_ids)
    targets = [t for t in ex["labels"] if t != data.IGNORE_INDEX]
    assert tok.decode(targets) == " 2020-05-01" + tok.eos_token


def test_chat_loss_covers_only_assistant_turns(smollm2):
    tok = smollm2.tokenizer
    messages = [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Hi there"},
                {"role": "user", "content": "Again"}, {"role": "assistant", "content": "Hello again"}]
    ex = data.tokenize_row("chat", {"messages": messages}, tok)
    learned = tok.decode([t for t in ex["labels"] if t != data.IGNORE_INDEX])
    assert "Hi there" in learned and "Hello again" in learned
    assert "Say hi" not in learned and "Again<" not in learned and "user" not in learned


def test_split_is_deterministic_and_disjoint():
    a = data.split_indices(50, 0.2, seed=3)
    assert a == data.split_indices(50, 0.2, seed=3)
    assert len(a[1]) == 10 and not set(a[0]) & set(a[1]) and len(a[0]) + len(a[1]) == 50


def test_chat_rows_with_a_model_without_chat_template_name_the_file_and_field(tmp_path, minilm):
    path = write(tmp_path, "chat.jsonl", jsonl({"messages": [{"role": "user", "content": "hi"},
                                                             {"role": "assistant", "content": "yo"}]}))
    with pytest.raises(DataError) as err:
        read_dataset(path, minilm.tokenizer, max_length=64)
    assert "no chat template" in str(err.value) and str(path) in str(err.value)
    assert [(e.line, e.field) for e in err.value.errors] == [(1, "messages")]
    with pytest.raises(DataError, match="no chat template"):  # the training path says the same, never a ValueError
        data.tokenize_row("chat", {"messages": [{"role": "user", "content": "hi"}]}, minilm.tokenizer)
