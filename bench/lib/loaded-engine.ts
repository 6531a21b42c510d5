/** An engine loaded inside a benchmark child process. */
export interface LoadedEngine {
  /** Exactly which weights are loaded. */
  checkpoint: string;
  /** Library versions for the report. */
  info: Record<string, string>;
  /** Full transcript of one audio file. */
  transcribe(file: string): Promise<string>;
  release(): Promise<void>;
}
