/**
 * `npm run check-config`: validates the environment as the service would
 * and prints the resulting settings (secrets masked), or exits 1 naming each
 * bad variable.
 */
import { loadConfigOrExit, summarizeConfig } from '../core/config.js';

const config = loadConfigOrExit(process.env);
process.stdout.write(`${JSON.stringify(summarizeConfig(config), null, 2)}\n`);
