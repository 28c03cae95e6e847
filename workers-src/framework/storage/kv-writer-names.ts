// The names an app's declaration derives for the framework's KV writer: the Worker's binding and the class
// its entry module exports. Plain constants, so that the Pulumi components (in Node) import them too.

export const KV_WRITER_BINDING = "KV_WRITER";
export const KV_WRITER_CLASS = "KvWriter";
