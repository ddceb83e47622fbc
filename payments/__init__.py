"""Payment cycles (tahap): programme schedules, frozen member lists, entitlements, payments, batches."""
