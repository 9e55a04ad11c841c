namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// A manifest store that can list its checkpoint ids without reading every manifest (which
/// <see cref="IManifestStore.ListAsync"/> does to report epochs and problems). Recovery that needs only the newest few
/// checkpoints uses it when the store offers it and falls back to <see cref="IManifestStore.ListAsync"/> otherwise.
/// </summary>
internal interface IListsCheckpointIds
{
    /// <summary>The ids of every checkpoint that has a manifest (readable or not), ascending.</summary>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>The ids.</returns>
    ValueTask<IReadOnlyList<ulong>> ListCheckpointIdsAsync(CancellationToken cancellationToken);
}
