namespace Cdc.Checkpoint.Tables;

/// <summary>
/// The fence row of a table store's checkpoint name, as read by <c>ReadFenceAsync</c>: which owner last acquired the name,
/// at which fencing epoch, and when. Reading it takes no lock and changes nothing.
/// </summary>
/// <param name="Name">The checkpoint name.</param>
/// <param name="Epoch">The current fencing epoch (1 after the first acquisition); a save with a lower epoch is refused
/// with <see cref="CheckpointErrorCode.StaleEpoch"/>.</param>
/// <param name="Owner">The owner text of the last acquisition (the store options' <c>Owner</c>, by default host and process id).</param>
/// <param name="AcquiredAt">When the last acquisition happened, by the acquiring store's clock (UTC).</param>
public sealed record CheckpointFence(string Name, long Epoch, string Owner, DateTimeOffset AcquiredAt);
