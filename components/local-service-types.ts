import type * as pulumi from "@pulumi/pulumi";
import { PACKAGE } from "./options";

/**
 * What a Worker needs beside it when its program runs on the local target, declared by the component that
 * knows (the builds platform declares its runner and its API's development tokens). The local target
 * reads these from the graph and knows nothing else of the app: no Worker names, no var names. On
 * Cloudflare a declaration is a component with no children, recorded in the stack and otherwise inert.
 */
export const LOCAL_SERVICE_TYPE = `${PACKAGE}:local:Service`;

/** Build runner processes the Worker offers builds to; it finds them through `urlVar`. */
export interface BuildRunnerService {
  kind: "build-runner";
  /** The Worker's var the target sets to the runners' URLs, comma-separated. */
  urlVar: string;
  /** How many runner processes. @default 1 */
  count?: number;
  /** Bearer token the Worker presents to its runners (secret). */
  token: pulumi.Input<string>;
  /** Builds one runner takes at once. */
  maxConcurrent: number;
  /** Whether runners clone `file://` repositories (local walk-throughs). @default false */
  allowFileRepos?: boolean;
  /** Where runners report; the Worker's own local URL when omitted. */
  callbackUrl?: pulumi.Input<string>;
}

/** The Worker's REST API takes HS256 bearer tokens signed with `secret`: the target prints one at start. */
export interface DevTokenService {
  kind: "dev-token";
  /** HS256 key of the API's tokens (secret). */
  secret: pulumi.Input<string>;
}

export type LocalServiceDeclaration = BuildRunnerService | DevTokenService;

/** Resolved declarations, as the local target reads them from the graph. */
export type LocalServicePlan = { scriptName: string } & (
  | { [K in keyof BuildRunnerService]: pulumi.Unwrap<BuildRunnerService[K]> }
  | { [K in keyof DevTokenService]: pulumi.Unwrap<DevTokenService[K]> }
);
