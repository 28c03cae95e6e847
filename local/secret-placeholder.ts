/**
 * What a `secure:` value of a stack file reads as where the stack's secrets provider is not at hand
 * (synth of a deployed stack): a placeholder, still handled as a secret. A program's config checks skip
 * content rules for it.
 */
export const ENCRYPTED_SECRET = "[secret]";
