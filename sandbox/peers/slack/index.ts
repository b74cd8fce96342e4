export {
  startSlackPeer,
  SlackPeer,
  RESPONSE_URL_MAX_POSTS,
  type SlackPeerOptions,
  type ApiCall,
  type ResponseUrlContext,
  type ResponseUrlPost,
  type ResponseEffect,
  type RenderedButton,
  type ButtonMatcher,
} from "./web-api.ts";
export { SlackDriver, type SigningOptions, type DriverResponse, type SlashOptions, type ClickOptions, type ClickButton } from "./driver.ts";
export { signSlackRequest, verifySlackSignature, type SignatureCheck } from "./signing.ts";
export { BLOCK_KIT_LIMITS, validateBlocks, formatViolation, messageChars, type BlockKitViolation } from "./block-kit-limits.ts";
export type { Block, StoredMessage, EphemeralMessage, MessageVersion, SlackChannel, SlackUser, SlackUsergroup } from "./workspace.ts";
