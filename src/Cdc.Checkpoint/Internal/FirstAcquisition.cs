namespace Cdc.Checkpoint.Internal;

/// <summary>
/// The first fencing acquisition of a table store, started once however many saves begin concurrently: acquiring twice
/// would fence the instance's own earlier acquisition. A failed or cancelled attempt is started again by the next caller.
/// </summary>
/// <param name="acquire">Acquires the name and returns the new epoch; called without a cancellation token, so that one
/// caller giving up does not fail the acquisition the others wait for.</param>
internal sealed class FirstAcquisition(Func<CancellationToken, Task<long>> acquire)
{
    private readonly Lock _gate = new();
    private Task<long>? _first;

    /// <summary>Returns <paramref name="epoch"/> when the store already holds one (non-zero), else the first acquisition's epoch.</summary>
    public async ValueTask<long> EnsureAsync(long epoch, CancellationToken cancellationToken)
    {
        if (epoch != 0)
        {
            return epoch;
        }

        Task<long> acquiring;
        lock (_gate)
        {
            if (_first is null || _first.IsFaulted || _first.IsCanceled)
            {
                _first = acquire(CancellationToken.None);
            }

            acquiring = _first;
        }

        return await acquiring.WaitAsync(cancellationToken).ConfigureAwait(false);
    }
}
