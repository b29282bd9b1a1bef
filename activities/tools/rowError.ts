/**
 * A row fault every tool raises the same way: the row's writes are rolled back to its savepoint,
 * its message (column, value, what was expected) goes to the report, and its line to the tryback.
 */
export class RowError extends Error {}
