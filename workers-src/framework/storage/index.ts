export { type Chain, type ChainNode, type ChainRoot, chain, chainAt } from "./chain";
export { CodecError, decode, encode } from "./codec";
export { type DurableStore, type DurableStoreOptions, durableStore } from "./durable-store";
export { sortableId } from "./id";
export { type KvPutOptions, type KvStore, type KvStoreOptions, kvStore } from "./kv-store";
export { type ListOptions, type ListPage, type PutOptions, type Store, unchanged } from "./store";
