"""Dashboard strings in English and Chinese, chosen by ?lang= then Accept-Language."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Docking stations",
        "docks": "Docks",
        "bays": "Bays",
        "devices": "Recorders",
        "offloads": "Offloads in progress",
        "alerts": "Alerts",
        "dock": "Dock",
        "availability": "State",
        "checkpoint": "Last checkpoint",
        "size": "Journal rows",
        "head": "Verified head",
        "bay": "Bay",
        "state": "State",
        "device": "Recorder",
        "verdict": "Last verdict",
        "battery": "Battery",
        "progress": "Bytes done",
        "kind": "Kind",
        "subject": "Subject",
        "text": "Text",
        "at": "Time",
        "online": "online",
        "offline": "offline",
        "stopped": "stopped",
        "none": "none",
    },
    "zh": {
        "title": "扩展坞总览",
        "docks": "扩展坞",
        "bays": "槽位",
        "devices": "执法记录仪",
        "offloads": "正在导出",
        "alerts": "警报",
        "dock": "扩展坞",
        "availability": "状态",
        "checkpoint": "最近检查点",
        "size": "日志行数",
        "head": "已验证头部",
        "bay": "槽位",
        "state": "状态",
        "device": "记录仪",
        "verdict": "最近结论",
        "battery": "电量",
        "progress": "已传字节",
        "kind": "类型",
        "subject": "对象",
        "text": "说明",
        "at": "时间",
        "online": "在线",
        "offline": "离线",
        "stopped": "已停止",
        "none": "无",
    },
}


def choose(query_lang: str | None, accept_language: str | None) -> str:
    """The ?lang= switch wins; else the first Accept-Language we have; else English."""
    if query_lang in STRINGS:
        return query_lang
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in STRINGS:
            return tag
    return "en"
