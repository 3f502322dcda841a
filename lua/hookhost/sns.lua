--- hookhost.sns: publish a notification (SNS Publish, query API 2010-03-31).
--
--   local sns = require("hookhost.sns")
--   local id = assert(sns.publish{topic_arn = os.getenv("TOPIC_ARN"),
--                                 subject = "deployment " .. ctx.deployment_id,
--                                 message = "traffic shifted"})
--
-- publish{topic_arn, message, subject?, attributes?} -> message id | nil, err (hookhost.aws error)
--   topic_arn: arn:<partition>:sns:<region>:<account>:<name>; the call goes to that region.
--   message: 1 byte to 256 KiB. subject: at most 100 characters, one line, no control characters.
--   attributes: {Name = "string value"} sent as String message attributes.
--   group_id, deduplication_id: MessageGroupId and MessageDeduplicationId, for FIFO topics.
--   In a dry run (no canned answer: docs/HOOKS.md) nothing is sent and the result is "dry-run".
-- The call is the model-driven client's (aws.client("sns"):publish): a stub entry for it
-- ({service = "sns", operation = "Publish"}) gives the raw XML `body` or the decoded `answer`
-- {MessageId = "..."}.
-- Delivery is at least once: when an answer is lost, hookhost.aws retries and a standard topic
-- may deliver the message twice. A FIFO topic with a deduplication_id (e.g. ctx.execution_id
-- hashed) delivers it once.

local aws = require("hookhost.aws")
local util = require("hookhost.util")

local M = {VERSION = "2010-03-31", MAX_MESSAGE_BYTES = 256 * 1024, MAX_SUBJECT = 100}

function M.publish(t)
  if type(t) ~= "table" then
    util.argerror("sns.publish", "expected a table {topic_arn, message, subject?}")
  end
  local arn = t.topic_arn
  local region = type(arn) == "string"
                 and arn:match("^arn:aws[%w%-]*:sns:([%w%-]+):%d%d%d%d%d%d%d%d%d%d%d%d:[%w_%-%.]+$")
  if not region then
    util.argerror("sns.publish", string.format(
      "topic_arn %s is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)",
      type(arn) == "string" and string.format("%q", arn) or "(" .. type(arn) .. ")"))
  end
  if type(t.message) ~= "string" or t.message == "" or #t.message > M.MAX_MESSAGE_BYTES then
    util.argerror("sns.publish", "message must be a string of 1 byte to 256 KiB")
  end
  if t.subject ~= nil and (type(t.subject) ~= "string" or t.subject == ""
                           or #t.subject > M.MAX_SUBJECT or t.subject:find("%c")) then
    util.argerror("sns.publish", "subject must be one line of 1 to 100 characters")
  end
  for _, k in ipairs({"group_id", "deduplication_id"}) do
    local v = t[k]
    if v ~= nil and (type(v) ~= "string" or not v:match("^[%w%p]+$") or #v > 128) then
      util.argerror("sns.publish", k .. " must be 1 to 128 letters, digits or punctuation")
    end
  end
  local params = {TopicArn = arn, Message = t.message, Subject = t.subject,
                  MessageGroupId = t.group_id, MessageDeduplicationId = t.deduplication_id}
  if t.attributes ~= nil then
    if type(t.attributes) ~= "table" then
      util.argerror("sns.publish", "attributes must be a table {Name = \"value\"}")
    end
    local attrs = {}
    for k, v in pairs(t.attributes) do
      if type(k) ~= "string" or type(v) ~= "string" then
        util.argerror("sns.publish", "attributes must map names to string values")
      end
      attrs[k] = {DataType = "String", StringValue = v}
    end
    params.MessageAttributes = attrs
  end
  local out, err = aws.client("sns", {region = region}):publish(params)
  if not out then
    return nil, err
  end
  if aws.is_placeholder(out) then
    return "dry-run"
  end
  local id = out.MessageId
  if type(id) ~= "string" or id == "" then
    return nil, aws.error{code = "SerializationError", status = 200,
                          message = "Publish answered without a MessageId"}
  end
  return id
end

return M
