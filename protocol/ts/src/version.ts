// The SDK's version, sent in Hello as `tickforge-ts/<version>`; a test keeps
// it equal to package.json's.

/** This package's version. */
export const SDK_VERSION = "0.1.0";
