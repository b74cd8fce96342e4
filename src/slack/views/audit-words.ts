import type { AuditWords } from "../../app/deps.ts";
import { decisionNoteText, refusalText, startRefusalReply } from "./refusal.ts";
import { describeVerdict } from "./verdict-text.ts";

/** The audit trail records what people were told in Slack, so `/rollout history` reads back the same words. */
export const slackAuditWords: AuditWords = { refusal: refusalText, note: decisionNoteText, start: startRefusalReply, verdict: describeVerdict };
