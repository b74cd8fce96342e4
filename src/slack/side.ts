import type { SlackSide } from "../app/slack-side.ts";
import { SlackTurnLater } from "./budget.ts";
import { runBackFor } from "./budget-line.ts";
import { chartAltText, chartSvg } from "./views/chart.ts";
import { homeView } from "./views/home.ts";
import {
  backToGitText,
  driftAuthorText,
  gitopsRevertAdvice,
  managerLabel,
  objectLabel,
  ownedButIgnoredText,
  ownedByText,
  ownershipRefusalText,
} from "./views/ownership-text.ts";
import { deployFailureText, deployProblemText, objectsText } from "./views/deploy-text.ts";
import { describePreflightProblems } from "./views/preflight-text.ts";
import { renderRolloutMessage } from "./views/rollout-message.ts";
import { cannotPostText, startRejectedText } from "./views/starter-notes.ts";
import { threadReply } from "./views/thread-reply.ts";

/** The Slack side of the worker's jobs: Slack's views and the Slack budget's put-offs (src/app/slack-side.ts). */
export const slackSide: SlackSide = {
  message: renderRolloutMessage,
  threadReply,
  startRejected: startRejectedText,
  cannotPost: cannotPostText,
  home: homeView,
  chartSvg,
  chartAltText,
  gitops: {
    object: objectLabel,
    ownedButIgnored: ownedButIgnoredText,
    ownershipRefusal: ownershipRefusalText,
    driftAuthor: driftAuthorText,
    revertAdvice: gitopsRevertAdvice,
    manager: managerLabel,
    ownedBy: ownedByText,
    backToGit: backToGitText,
  },
  deploy: { problem: deployProblemText, failure: deployFailureText, objects: objectsText },
  preflightProblems: describePreflightProblems,
  turnLater: (err) => (err instanceof SlackTurnLater ? { bucket: err.bucket, at: err.at } : undefined),
  runBackFor,
};
