// The package version, bundled in from package.json.
import pkg from '../package.json';

export const VERSION: string = pkg.version;
