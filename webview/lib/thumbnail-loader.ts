// Thumbnails load when their cell scrolls into view, a few at a time, each fetched once.
import type { HostConnection } from './host-connection';

const CONCURRENT = 6;

export class ThumbnailLoader {
  private readonly urls = new Map<string, string>();
  private readonly queue: { id: string; img: HTMLImageElement }[] = [];
  private active = 0;
  private readonly observer = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        const img = entry.target as HTMLImageElement;
        this.observer.unobserve(img);
        this.queue.push({ id: img.dataset.sampleId!, img });
      }
      this.pump();
    },
    { rootMargin: '200px' },
  );

  constructor(private readonly host: HostConnection<object>) {}

  attach(img: HTMLImageElement, sampleId: string): void {
    img.dataset.sampleId = sampleId;
    const known = this.urls.get(sampleId);
    if (known) img.src = known;
    else this.observer.observe(img);
  }

  private pump(): void {
    while (this.active < CONCURRENT && this.queue.length > 0) {
      const { id, img } = this.queue.shift()!;
      if (!img.isConnected) continue;
      this.active++;
      this.host
        .request('samples/thumbnail', { sampleId: id })
        .then(({ dataUrl }) => {
          this.urls.set(id, dataUrl);
          img.src = dataUrl;
        })
        .catch(() => img.classList.add('thumbnail-failed'))
        .finally(() => {
          this.active--;
          this.pump();
        });
    }
  }
}
