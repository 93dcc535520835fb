"""Every text the page shows, in English and Simplified Chinese.

Static labels are translated in the browser by Gradio's i18n (`I18N`, passed to
``launch``), which follows the browser's language. HTML that the server writes cannot be
translated there, so it is written in the language the page's switch holds, from the
same tables (`text`).
"""

# Chinese text takes full-width commas, colons and brackets, as Chinese should.
# ruff: noqa: RUF001

import functools
import re
from collections.abc import Sequence
from typing import Any

ENGLISH = "en"
CHINESE = "zh-CN"
LANGUAGES = (ENGLISH, CHINESE)
# The switch shows each language in its own script, so a reader of either finds it.
LANGUAGE_NAMES = {ENGLISH: "English", CHINESE: "简体中文"}
# Every text the page shows. The English of the app's own answers is the exact text of
# app.py's (tests pin both); keys with {placeholders} are only filled in here, never
# sent to the browser's translator.
TEXTS: dict[str, dict[str, str]] = {
    ENGLISH: {
        # The app's page.
        "intro": "# Digit Sketchpad\nDraw a digit from 0 to 9. A neural network "
        "trained on MNIST answers after every stroke.",
        "language": "Language",
        "draw_here": "Draw here",
        "model_sees": "What the model sees",
        "examples": "MNIST test digits: click one to try it",
        "the_model": "The model",
        "model": "Model",
        "accuracy_plot": "Accuracy per epoch",
        "loss_plot": "Loss per epoch",
        # The model panel, made on the server.
        "info_model": "**Model:** `{name}`",
        "info_architecture": "**Architecture:** {shape}",
        "info_parameters": "**Parameters:** {count}",
        "info_accuracy": "**MNIST test accuracy:** {accuracy}",
        "info_trained": "**Trained:** {when}",
        "info_trained_in": " in {seconds} s",
        "series_training": "training",
        "series_validation": "validation",
        "confusion_caption": "Rows: true digit; columns: the model's answer "
        "(MNIST test set)",
        "confusion_missing": "No confusion matrix recorded for this model.",
        # The app's answers, made on the server.
        "draw_a_digit": "Draw a digit",
        "sure": "{percent} sure",
        "scribble": "Not sure: this does not look like a digit",
        "maybe": "Not sure: maybe {first} ({first_percent}) or {second} "
        "({second_percent})",
        "unreadable": "Could not read this drawing: {error}",
        "model_unusable": "This model cannot be used: {error}",
        "sees_nothing": "The model sees nothing yet.",
        "input_alt": "28x28 input",
        "step_ink": "1. Ink found",
        "step_cropped": "2. Cropped to the ink",
        "step_box": "3. Scaled into 20x20",
        "step_field": "4. Placed in 28x28",
        "step_centred": "5. Centre of mass at the middle",
        # The classroom's labels.
        "classroom_intro": "## Classroom\nHow the network decides, and what the "
        "class teaches it.",
        "tab_inside": "Inside the network",
        "tab_sensitivity": "Sensitivity",
        "tab_mistakes": "The class's mistakes",
        "it_was": "That's wrong, it was",
        "save_correction": "Save the correction",
        "shift_down": "Move down (pixels)",
        "shift_right": "Move right (pixels)",
        "rotation": "Turn anticlockwise (degrees)",
        "thickness": "Thicker or thinner (steps)",
        "reset": "Reset",
        "refresh": "Refresh",
        "export": "Export the corrections for training",
        "export_file": "Corrections (npz)",
        # The classroom's views, made on the server.
        "maps_title": "What each hidden unit looks for",
        "maps_legend": "Red: ink there pushes the unit up. Blue: ink there pushes it "
        "down. White: it does not matter. The same colour is the same weight in every "
        "map.",
        "maps_all": "All {count} hidden units of {model}.",
        "maps_chosen": "{count} of the {total} hidden units of {model}: those whose "
        "weights are largest, measured as the length of the unit's 784 input weights "
        "times the length of its weights into the next layer. Units with small "
        "weights change the answer little.",
        "unit": "unit {unit}",
        "not_dense": "{model} has layers other than Dense, so its weights cannot be "
        "drawn as maps.",
        "activity_title": "The hidden units for this drawing",
        "activity_help": "Each bar is a unit's output. Each picture is the drawing "
        "multiplied by the unit's map: red ink pushes the unit up, blue pushes it "
        "down. The number is their sum plus the unit's bias, the unit's input before "
        "the activation.",
        "activity_empty": "Draw a digit to see the hidden units respond.",
        "activity_all": "All {count} hidden units.",
        "activity_chosen": "The {count} most active of the {total} hidden units for "
        "this drawing.",
        "sensitivity_help": "Move, turn or thicken the drawing and watch the answer "
        "change. The model has only ever seen digits centred, upright and drawn with "
        "MNIST's pen.",
        "sensitivity_empty": "Draw a digit, then move the sliders.",
        "changed_alt": "the changed drawing",
        "saved": "Saved: thanks, {count} corrections so far",
        "saved_uncounted": "Saved: thanks",
        "not_saved": "Not saved: {reason}",
        "reason_nothing_drawn": "draw a digit first",
        "reason_no_label": "pick the digit it was",
        "reason_was_right": "the model already said {digit}",
        "reason_unreadable": "the drawing could not be read ({error})",
        "mistakes_title": "Latest corrections",
        "mistakes_empty": "No corrections yet.",
        "mistake_caption": "true {label}, model said {predicted}",
        "no_answer": "?",
        "scoreboard_title": "Misread digits",
        "scoreboard_digit": "Digit",
        "scoreboard_session": "You",
        "scoreboard_class": "The class",
        "scoreboard_answer": "Most often read as",
        "exported": "{count} corrections exported. Train with them: "
        "python -m training --feedback FILE",
        "export_empty": "Nothing to export yet.",
        "unavailable": "The corrections cannot be read: {error}",
    },
    CHINESE: {
        "intro": "# 手写数字画板\n画一个 0 到 9 的数字。一个用 MNIST 训练的神经网络"
        "会在每一笔之后作答。",
        "language": "语言",
        "draw_here": "在这里画",
        "model_sees": "模型看到的",
        "examples": "MNIST 测试数字：点一个试试",
        "the_model": "关于模型",
        "model": "模型",
        "accuracy_plot": "每轮准确率",
        "loss_plot": "每轮损失",
        "info_model": "**模型：** `{name}`",
        "info_architecture": "**结构：** {shape}",
        "info_parameters": "**参数个数：** {count}",
        "info_accuracy": "**MNIST 测试准确率：** {accuracy}",
        "info_trained": "**训练于：** {when}",
        "info_trained_in": "，用时 {seconds} 秒",
        "series_training": "训练集",
        "series_validation": "验证集",
        "confusion_caption": "行：真实数字；列：模型的回答（MNIST 测试集）",
        "confusion_missing": "这个模型没有记录混淆矩阵。",
        "draw_a_digit": "画一个数字",
        "sure": "把握 {percent}",
        "scribble": "不确定：这看起来不像数字",
        "maybe": "不确定：可能是 {first}（{first_percent}）或 {second}"
        "（{second_percent}）",
        "unreadable": "无法读取这幅图：{error}",
        "model_unusable": "无法使用这个模型：{error}",
        "sees_nothing": "模型还什么都没看到。",
        "input_alt": "28x28 输入",
        "step_ink": "1. 找到墨迹",
        "step_cropped": "2. 裁剪到墨迹",
        "step_box": "3. 缩放进 20x20",
        "step_field": "4. 放入 28x28",
        "step_centred": "5. 质心移到中央",
        "classroom_intro": "## 课堂\n网络如何做出判断，以及全班在教它什么。",
        "tab_inside": "网络内部",
        "tab_sensitivity": "敏感度",
        "tab_mistakes": "全班的纠错",
        "it_was": "答错了，应该是",
        "save_correction": "保存纠正",
        "shift_down": "向下移动（像素）",
        "shift_right": "向右移动（像素）",
        "rotation": "逆时针旋转（度）",
        "thickness": "加粗或变细（步）",
        "reset": "复位",
        "refresh": "刷新",
        "export": "导出纠正用于训练",
        "export_file": "纠正数据（npz）",
        "maps_title": "每个隐藏单元在找什么",
        "maps_legend": "红色：那里的墨迹让该单元增强。蓝色：那里的墨迹让它减弱。"
        "白色：无关紧要。所有图中同一颜色代表同一权重。",
        "maps_all": "{model} 的全部 {count} 个隐藏单元。",
        "maps_chosen": "{model} 的 {total} 个隐藏单元中的 {count} 个：权重最大的那些，"
        "即该单元 784 个输入权重的长度乘以它通向下一层的权重的长度。"
        "权重小的单元对答案影响很小。",
        "unit": "单元 {unit}",
        "not_dense": "{model} 含有全连接层以外的层，它的权重无法画成图。",
        "activity_title": "这幅图下的隐藏单元",
        "activity_help": "每个条形是一个单元的输出。每张图是这幅画乘以该单元的权重图："
        "红色墨迹让单元增强，蓝色让它减弱。数字是它们的和加上该单元的偏置，"
        "即激活函数之前的输入。",
        "activity_empty": "画一个数字，看看隐藏单元如何反应。",
        "activity_all": "全部 {count} 个隐藏单元。",
        "activity_chosen": "这幅图下 {total} 个隐藏单元中最活跃的 {count} 个。",
        "sensitivity_help": "移动、旋转或加粗这幅图，看答案如何变化。"
        "模型只见过居中、端正、用 MNIST 笔迹写的数字。",
        "sensitivity_empty": "先画一个数字，再拖动滑块。",
        "changed_alt": "改变后的图",
        "saved": "已保存：谢谢，目前共有 {count} 条纠正",
        "saved_uncounted": "已保存：谢谢",
        "not_saved": "未保存：{reason}",
        "reason_nothing_drawn": "请先画一个数字",
        "reason_no_label": "请选出正确的数字",
        "reason_was_right": "模型已经答了 {digit}",
        "reason_unreadable": "无法读取这幅图（{error}）",
        "mistakes_title": "最近的纠正",
        "mistakes_empty": "还没有纠正。",
        "mistake_caption": "正确 {label}，模型答 {predicted}",
        "no_answer": "？",
        "scoreboard_title": "被认错的数字",
        "scoreboard_digit": "数字",
        "scoreboard_session": "你",
        "scoreboard_class": "全班",
        "scoreboard_answer": "最常被认成",
        "exported": "已导出 {count} 条纠正。用它们训练："
        "python -m training --feedback 文件",
        "export_empty": "还没有可导出的纠正。",
        "unavailable": "无法读取纠正：{error}",
    },
}


def translations() -> dict[str, dict[str, str]]:
    """The labels the browser translates: every text without a placeholder."""
    return {
        language: {
            key: value
            for key, value in table.items()
            if not re.search(r"\{\w+\}", value)
        }
        for language, table in TEXTS.items()
    }


@functools.cache
def make_i18n():
    """The ``gr.I18n`` for ``launch(i18n=...)``; also `classroom.I18N`."""
    import gradio as gr

    return gr.I18n(**translations())


def __getattr__(name: str) -> Any:
    # `I18N` is made on first use: importing gradio takes seconds, and importing this
    # module must stay cheap (see app.py's module docstring).
    if name == "I18N":
        return make_i18n()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def label(key: str):
    """A static label that the browser translates (Gradio's ``I18nData``)."""
    if key not in TEXTS[ENGLISH]:
        raise KeyError(f"no text {key!r}")
    return make_i18n()(key)


def text(key: str, language: str | None = ENGLISH, **values: Any) -> str:
    """One text in ``language`` (English for any language we do not have)."""
    table = TEXTS.get(language or ENGLISH, TEXTS[ENGLISH])
    return table[key].format(**values)


def pick_language(preferred: str | Sequence[str] | None) -> str:
    """The page's language from the browser's preferences, best first.

    Takes ``navigator.languages`` or an Accept-Language header. Simplified Chinese for
    zh, zh-CN, zh-SG and zh-Hans; Traditional Chinese (zh-TW, zh-HK, zh-Hant) and every
    other language get English, since the page has no other translation.
    """
    if isinstance(preferred, str):
        preferred = [part.split(";")[0] for part in preferred.split(",")]
    for tag in preferred or ():
        tag = str(tag).strip().lower()
        if not tag or tag == "*":
            continue
        if tag.startswith("en"):
            return ENGLISH
        if tag.startswith("zh"):
            traditional = re.search(r"-(tw|hk|mo|hant)\b", tag)
            return ENGLISH if traditional else CHINESE
    return ENGLISH


def checked_language(language: Any) -> str:
    return language if language in LANGUAGES else ENGLISH
