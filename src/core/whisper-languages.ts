/**
 * Language codes Whisper knows (OpenAI whisper's tokenizer: 99 languages,
 * plus Cantonese since large-v3). The API refuses others before a job is
 * queued; the engine still checks against the loaded model's own list.
 */
export const WHISPER_LANGUAGES: ReadonlySet<string> = new Set(
  (
    'en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur hr bg lt la mi ml ' +
    'cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn yo so af oc ka be tg sd gu am ' +
    'yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su yue'
  ).split(' '),
);

/** Whether a model name or folder is an English-only checkpoint (`tiny.en` … `medium.en`). */
export function isEnglishOnlyModel(model: string): boolean {
  return /\.en\/?$/.test(model.trim());
}
