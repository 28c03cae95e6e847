import { bindingKind } from "./kind";

/** Analytics Engine: `analyticsEngineDatasets: { NAME: dataset }` (datasets are created on first write). */
export const analyticsEngineDatasets = bindingKind({
  type: "analytics_engine",
  field: "analyticsEngineDatasets",
  literal: (name, dataset: string) => ({ binding: { type: "analytics_engine", name, dataset } }),
  local: { option: "analyticsEngineDatasets", value: (b, plan) => ({ dataset: plan.str(b, "dataset") }) },
});
