"""Records -> chat messages through the registry: one prompt text for training, evaluation, inference."""

import pytest

from onethinker.data.chat import RecordError, record_messages, user_message
from onethinker.data.media import MediaError
from onethinker.data.records import read_records
from onethinker.tasks import get_task


def first(corpus, name, pred=lambda r: True):
    return next(r for r in read_records(corpus / name) if pred(r))


def test_rl_record_media_in_place_and_instruction_appended(corpus):
    r = first(corpus, "onethinker_rl_train.json", lambda r: r["problem_type"] == "multiple choice")
    msg = user_message(r, corpus)
    media_key = "image" if r["data_type"] == "image" else "video"
    assert msg["role"] == "user"
    assert msg["content"][0] == {"type": media_key, media_key: str(corpus / (r.get("images") or r.get("videos"))[0])}
    text = msg["content"][1]["text"]
    task = get_task("multiple choice")
    assert text == task.prompt(r["problem_reserved_text"], r["options"])
    assert "Options:\nA. " in text and text.endswith(task.instruction)


def test_eval_record_has_media_first_and_the_same_prompt_text(corpus):
    ev = first(corpus, "eval_synthetic.json", lambda r: r["data_type"] == "video")
    msgs = record_messages(ev, corpus, video_options={"fps": 2.0, "max_frames": 64}, with_answer=True)
    content = msgs[0]["content"]
    assert content[0]["type"] == "video" and content[0]["fps"] == 2.0 and content[0]["max_frames"] == 64
    assert content[1]["text"] == get_task(ev["problem_type"], ev["data_type"]).prompt(ev["problem"], ev["options"] or None)
    assert msgs[1] == {"role": "assistant", "content": [{"type": "text", "text": ev["solution"]}]}


def test_video_image_eval_items_carry_both_media(corpus):
    ev = dict(first(corpus, "eval_synthetic.json", lambda r: r["data_type"] == "video" and r["problem_type"] == "multiple choice"))
    img = first(corpus, "eval_synthetic.json", lambda r: r["data_type"] == "image")
    ev.update(data_type="video-image", additional_path=img["path"])
    kinds = [c["type"] for c in user_message(ev, corpus)["content"]]
    assert kinds == ["video", "image", "text"]


def test_sft_record_keeps_its_turns(corpus):
    s = first(corpus, "onethinker_sft_image.json")
    msgs = record_messages(s, corpus)
    assert msgs[0]["content"][0] == {"type": "image", "image": str(corpus / s["images"][0])}
    assert msgs[0]["content"][1]["text"] == s["messages"][0]["content"].replace("<image>", "", 1)
    assert msgs[1]["content"][0]["text"] == s["messages"][1]["content"]


def test_errors(corpus):
    r = dict(first(corpus, "onethinker_rl_train.json", lambda r: r["data_type"] == "image"))
    with pytest.raises(RecordError, match="2 media placeholders but the record has 1"):
        user_message(dict(r, problem="<image><image>x"), corpus)
    with pytest.raises(MediaError, match="outside the media root"):
        user_message(dict(r, images=["../x.png"]), corpus)
    with pytest.raises(KeyError):
        user_message(dict(r, problem_type="juggling"), corpus)
