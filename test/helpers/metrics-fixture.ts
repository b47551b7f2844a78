/** Shape of one score file's inputs in test/fixtures/metrics.json (ASDKit's evaluate vectors). */
export interface CaseInputs {
  backend: string;
  anomaly_score: number[];
  section: number[];
  is_normal: number[];
  is_target: number[];
  extra_scores?: Record<string, number[]>;
}
