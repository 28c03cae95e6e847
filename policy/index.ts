import { PolicyPack } from "@pulumi/policy";
import { dataSafetyPolicies, PACK_NAME } from "./policies";

new PolicyPack(PACK_NAME, {
  description:
    "Data-safety rules of the workers-platform stacks: prod data protected, secrets kept secret, Durable Object deletions approved, the builds API's Hyperdrive cache off, Worker compatibility dates not too old.",
  policies: dataSafetyPolicies(),
});
