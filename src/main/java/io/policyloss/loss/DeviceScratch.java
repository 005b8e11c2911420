package io.policyloss.loss;

/**
 * The device memory the library keeps for the scratch of its device calls (a row record of 32 bytes a row, the
 * metric sums and the data check), from {@link FusedLoss#deviceScratch}.
 *
 * @param reservedBytes what the pool holds on the device now (it keeps what it grows to, for the next calls)
 * @param peakBytes the most the calls held at once since the device's first call or the last reset
 */
public record DeviceScratch(long reservedBytes, long peakBytes) {}
