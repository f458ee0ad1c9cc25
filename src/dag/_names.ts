/** Allowed task ids and workflow refs: a plain name, never a path or URL. */
export const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;
