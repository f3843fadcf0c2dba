// Whether a model source names a Hugging Face hub id (`name`, `org/name`) rather than the URL of a model
// directory. No imports, so that a page can tell the two apart without loading the package.

const PART = '[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?';
const ID = new RegExp(`^${PART}(?:/${PART})?$`);

/**
 * Whether a string is a hub id (`name` or `org/name`, as the hub spells ids) rather than the URL of a model
 * directory. URLs of directories start with a scheme, `/`, `./` or `../`, or end with `/`.
 */
export function isHubId(source) {
  return typeof source === 'string' && source.length <= 96 && ID.test(source) && !/--|\.\./.test(source);
}
