#!/bin/sh
# Stand-in for Prisma's native schema engine, which cannot be downloaded on these machines.
# `prisma generate` only checks that the binary exists; anything that would run it fails loudly.
echo "schema engine not available: Parley applies migrations itself (npm run migrate)" >&2
exit 1
