"""CloudWatch over Smithy RPC v2 CBOR, the protocol CloudWatch's current SDKs speak (the Rust
SDK's only one; botocore's model lists it first), answered from moto's CloudWatch backend, which
speaks only the query protocol.

Requests are `POST /service/GraniteServiceVersion20100801/operation/<Operation>` with a CBOR
map of the operation's input members; answers are CBOR maps with the `smithy-protocol:
rpc-v2-cbor` header, errors a map with `__type` and `message` (Smithy, "RPC v2 CBOR
protocol"). Only the alarm calls the product makes are served; each that changes an alarm is
recorded in order
(the simulated clock replays them into its alarm evaluator: tests/src/alarm_eval.rs).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import cbor2
from moto.cloudwatch.models import cloudwatch_backends
from werkzeug.wrappers import Response

PATH_PREFIX = "/service/GraniteServiceVersion20100801/operation/"
ACCOUNT = "123456789012"

_calls: list[dict[str, Any]] = []
_lock = threading.Lock()


def is_cbor_call(path: str) -> bool:
    return path.startswith(PATH_PREFIX)


def operation_of(path: str) -> str:
    return path[len(PATH_PREFIX):].strip("/")


def params_of(body: bytes) -> dict[str, Any]:
    decoded = cbor2.loads(body) if body else {}
    return decoded if isinstance(decoded, dict) else {}


def _answer(value: dict[str, Any], status: int = 200) -> Response:
    response = Response(cbor2.dumps(value), status=status, content_type="application/cbor")
    response.headers["smithy-protocol"] = "rpc-v2-cbor"
    return response


def error(code: str, message: str, status: int = 400) -> Response:
    return _answer({"__type": f"com.amazonaws.cloudwatch#{code}", "message": message}, status)


def calls(reset: bool = False) -> list[dict[str, Any]]:
    with _lock:
        snapshot = list(_calls)
        if reset:
            _calls.clear()
    return snapshot


def handle(path: str, body: bytes, region: str) -> Response:
    operation = operation_of(path)
    params = params_of(body)
    backend = cloudwatch_backends[ACCOUNT][region]
    names = params.get("AlarmNames") or ([params["AlarmName"]] if "AlarmName" in params else [])
    missing = [name for name in names if name not in backend.alarms]
    if operation == "DescribeAlarms":
        # A read: answered, not recorded (the record is of what changes an alarm).
        wanted = set(names) if names else set(backend.alarms)
        alarms = [
            {
                "AlarmName": name,
                "AlarmArn": alarm.alarm_arn,
                "StateValue": alarm.state_value,
                "ActionsEnabled": str(alarm.actions_enabled).lower() == "true",
            }
            for name, alarm in backend.alarms.items()
            if name in wanted
        ]
        types = params.get("AlarmTypes") or ["MetricAlarm"]
        return _answer({"MetricAlarms": alarms if "MetricAlarm" in types else [], "CompositeAlarms": []})
    if operation == "SetAlarmState":
        if missing:
            return error("ResourceNotFound", f"Alarm {missing[0]} not found", 404)
        state = params.get("StateValue", "")
        if state not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
            return error("ValidationError", f"Value '{state}' at 'stateValue' failed to satisfy constraint")
        backend.set_alarm_state(names[0], params.get("StateReason", ""), params.get("StateReasonData"), state)
    elif operation in ("EnableAlarmActions", "DisableAlarmActions"):
        # An unknown name is ignored, as CloudWatch does for these two calls.
        for name in names:
            if name in backend.alarms:
                backend.alarms[name].actions_enabled = operation == "EnableAlarmActions"
    else:
        return error("UnknownOperationException", f"the test bed does not serve CloudWatch {operation} over CBOR")
    with _lock:
        _calls.append({"operation": operation, "at": time.time(), **{k: v for k, v in params.items() if isinstance(v, (str, list))}})
    return _answer({})
