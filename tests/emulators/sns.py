"""SNS (API 2010-03-31, the query protocol): Publish only, for notifications from hooks.

Topics need not be seeded: any well-formed ARN in the emulator's region is accepted, except
those of topics marked missing with `Emulators.seed_topic(arn, exists=False)` (NotFound).
Every published message is recorded (`Emulators.published()`): time, TopicArn, Message,
Subject, MessageAttributes, MessageId.
"""

import re
import threading
import time
import uuid

from .cloudwatch import QueryService
from .sigv4 import Verifier

NS = "http://sns.amazonaws.com/doc/2010-03-31/"
_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256}(\.fifo)?)$")
MAX_MESSAGE_BYTES = 256 * 1024


class Sns(QueryService):
    name = "sns"
    namespace = NS
    version = "2010-03-31"

    def __init__(self, hub, keys, session_token=None, region="us-east-1"):
        super().__init__(hub)
        self.verifier = Verifier("sns", region, keys, session_token)
        self.region = region
        self.lock = threading.Lock()
        self.missing = set()
        self.messages = []

    def seed_topic(self, arn, exists=True):
        with self.lock:
            (self.missing.discard if exists else self.missing.add)(arn)

    def published(self, topic_arn=None):
        with self.lock:
            return [dict(m) for m in self.messages if topic_arn in (None, m["TopicArn"])]

    def op_Publish(self, p):
        arn = p.get("TopicArn") or p.get("TargetArn")
        message = p.get("Message")
        if not arn:
            return self.error(400, "InvalidParameter", "Invalid parameter: TopicArn or TargetArn")
        m = _ARN_RE.match(arn)
        if not m or m.group(1) != self.region:
            return self.error(400, "InvalidParameter", "Invalid parameter: TopicArn")
        if message is None or message == "":
            return self.error(400, "InvalidParameter", "Invalid parameter: Empty message")
        if len(message.encode()) > MAX_MESSAGE_BYTES:
            return self.error(400, "InvalidParameter", "Invalid parameter: Message too long")
        subject = p.get("Subject")
        if subject is not None and (not subject or len(subject) > 100 or "\n" in subject):
            return self.error(400, "InvalidParameter", "Invalid parameter: Subject")
        attrs, n = {}, 1
        while f"MessageAttributes.entry.{n}.Name" in p:
            pre = f"MessageAttributes.entry.{n}"
            attrs[p[f"{pre}.Name"]] = {"DataType": p.get(f"{pre}.Value.DataType"),
                                       "StringValue": p.get(f"{pre}.Value.StringValue")}
            n += 1
        with self.lock:
            if arn in self.missing:
                return self.error(404, "NotFound", "Topic does not exist")
            mid = str(uuid.uuid4())
            self.messages.append({"time": time.time(), "TopicArn": arn, "Message": message,
                                  "Subject": subject, "MessageAttributes": attrs,
                                  "MessageId": mid})
        return self.result("Publish", f"<MessageId>{mid}</MessageId>")
