// Files dropped on or picked in a webview, read into the protocol's base64 form, and the
// explorer URIs a drop carries.
import { DEFAULT_MAX_UPLOAD, DEFAULT_MAX_UPLOAD_MB } from '../../kernel/rules';
import type { DroppedFile } from '../protocol';

export async function readDroppedFile(file: File): Promise<DroppedFile> {
  // Larger than the engine's default upload limit: refused here, before it is read.
  if (file.size > DEFAULT_MAX_UPLOAD) throw new Error(`${file.name} is larger than ${DEFAULT_MAX_UPLOAD_MB} MB.`);
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { name: file.name, base64: btoa(binary) };
}

/** What a drop carries: files from the desktop, URIs from VS Code's explorer (dragged with Shift). */
export async function readDrop(transfer: DataTransfer): Promise<{ files: DroppedFile[]; uris: string[] }> {
  const uriList = transfer.getData('text/uri-list') || transfer.getData('application/vnd.code.uri-list');
  const uris = uriList
    .split(/\r?\n/)
    .map((u) => u.trim())
    .filter((u) => u && !u.startsWith('#'));
  // A drop from the explorer may also carry a File for the same item; the URI is enough then.
  const files = uris.length > 0 ? [] : await Promise.all([...transfer.files].map(readDroppedFile));
  return { files, uris };
}

/** Marks an element as a drop target for images; `onDrop` gets what was dropped. */
export function acceptDrops(element: HTMLElement, onDrop: (transfer: DataTransfer) => void): void {
  let depth = 0;
  element.addEventListener('dragenter', (e) => {
    e.preventDefault();
    depth++;
    element.classList.add('drop-target');
  });
  element.addEventListener('dragover', (e) => {
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  });
  element.addEventListener('dragleave', () => {
    if (--depth <= 0) {
      depth = 0;
      element.classList.remove('drop-target');
    }
  });
  element.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    element.classList.remove('drop-target');
    if (e.dataTransfer) onDrop(e.dataTransfer);
  });
}
