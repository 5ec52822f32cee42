// The keywords model's test pictures, and the skip every test that needs the model carries: the
// model is an opt-in install (145 MB package), so a fresh clone skips these tests saying how to
// run them, and CI (.ci/run) installs it so they run there.
import path from 'node:path';
import sharp from 'sharp';
import { KeywordDetector } from '../../kernel/features/keyword-detector';

/** A real photo: one person, a dog and a horse (test/fixtures/keywords/README.md says whose). */
export const PERSON_DOG_HORSE = path.join(__dirname, '..', 'fixtures', 'keywords', 'person-dog-horse.jpg');

const installed = KeywordDetector.availability();
/** Test options: run when the keywords model is installed, else skip naming the command that installs it. */
export const needsKeywordsModel: { skip?: string } = installed.installed
  ? {}
  : { skip: `the keywords model is not installed (${installed.reason}): run \`npm run models:keywords\`` };

/** The fixture photo over its mirror image: two people with two dogs (and two horses). */
export async function peopleWithDogs(): Promise<Buffer> {
  const mirror = await sharp(PERSON_DOG_HORSE).flop().toBuffer();
  return sharp({ create: { width: 640, height: 848, channels: 3, background: '#000' } })
    .composite([
      { input: PERSON_DOG_HORSE, left: 0, top: 0 },
      { input: mirror, left: 0, top: 424 },
    ])
    .jpeg({ quality: 90 })
    .toBuffer();
}
