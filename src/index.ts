/** asdkit's public API: steps, recipes, models, metrics, features, backends, data and native settings. */
export * from './dcase/index.js';
export * from './metrics/index.js';
export * from './features/index.js';
export { fitScore, type EmbeddingSet, type ScoreResult } from './backends/score.js';
export { resolveBackend, BACKENDS, type BackendConfig, type ResolvedBackend } from './backends/config.js';
export { extract, type ExtractOptions, type ExtractResult } from './steps/extract.js';
export { score, type ScoreOptions, type ScoreStepResult } from './steps/score.js';
export { evaluate, evaluateScoreFile, type EvaluateOptions, type EvaluateFileOptions } from './steps/evaluate.js';
export { table, type TableOptions } from './steps/table.js';
export { visualize, type VisualizeOptions, type VisualizeResult } from './steps/visualize.js';
export { drawTrainingCurves, type CurveFigure } from './steps/curves.js';
export { writeReports, type WrittenReport } from './report/index.js';
export { train, trainAe, validationScalars, loadLabelSet, type TrainStepOptions, type AeTrainStepOptions, type TrainStepResult } from './steps/train.js';
export { DisModel, AeModel, PretrainedModel, loadModel, type AnyModel, type ModelConfig, type AeConfig, type PretrainedConfig, type CheckpointInfo, type TrainData, type StepMetrics, type TrainSettings } from './train/model.js';
export { readTorchCheckpoint, readLightningCheckpoint, CheckpointError, type TorchCheckpoint } from './io/torch-checkpoint.js';
export { readBeatsCheckpoint, readEatCheckpoint } from './pretrained/official.js';
export { checkPretrained, type PretrainedReport } from './pretrained/check.js';
export { PRETRAINED_SOURCES, resolvePretrained } from './pretrained/sources.js';
export { selectCheckpoint, bestCheckpoints, intervalCheckpoints, LAST_CKPT } from './train/checkpoint.js';
export { TensorBoardWriter, readEventFile } from './train/tensorboard.js';
export { readSafetensors, writeSafetensors, readSafetensorsHeader, encodeSafetensors, decodeSafetensors, type SafeTensor } from './io/safetensors.js';
export {
  versionDir, outputDir, machineDir, modelDir, checkpointDir, clipDir, runIdsOf, readRunConfig, findRunConfig, isSkipped,
  type RunIds, type ModelIds, type StepControl, type Skipped, type RunConfig, type RecipeDefinition,
} from './run/index.js';
export * as defaults from './run/defaults.js';
export { resolveExtractor, frontendOf, type Extractor } from './steps/extractor.js';
export { runRecipe, type RunEvent, type RunHooks, type RunResult } from './recipes/run.js';
export { RECIPES, getRecipe } from './recipes/catalogue.js';
export { resolveRunConfig, applyOverride } from './recipes/resolve.js';
export { trainOptionsOf, aeTrainOptionsOf, modelConfigOf, multiresnetConfigOf, aeConfigOf } from './steps/from-config.js';
export { synthesize, type SynthOptions, type SynthResult, type SynthLayout } from './data/synth/index.js';
export { listClips, type ClipList } from './data/clips.js';
export { readNpz, writeNpz, encodeNpz, decodeNpz, type NpyArray } from './io/npz.js';
export { native, setThreads, type TensorLike, type NativeInfo } from './native/index.js';
export { pyFloat } from './util/pyfloat.js';
export { fitThreshold, fitGamma, gammaQuantile, empiricalQuantile, type GammaParams, type ThresholdMethod } from './detector/threshold.js';
export { Detector, type DetectorLoadOptions, type ScoreOptions as DetectorScoreOptions, type DetectorScores } from './detector/detector.js';
export { readManifest, DETECTOR_FORMAT, DETECTOR_FORMAT_VERSION, type DetectorManifest } from './detector/format.js';
export { exportDetector, fitScorer, type ExportOptions, type FittedScorer } from './steps/export.js';
export { detect, type DetectOptions, type DetectResult, type DetectFormat } from './steps/detect.js';
export { expandInputs } from './steps/detect-inputs.js';
export { submission, submissionStem, type SubmissionOptions, type SubmissionFile } from './steps/submission.js';
export { createServer, type ServeOptions, type ClipAnswer } from './serve/server.js';
