namespace Cdc.Checkpoint.Hosting.Tests.Support;

/// <summary>A private temp directory for a checkpoint (its subdirectory <c>checkpoint</c> is created by the store).</summary>
internal sealed class TempDirectory : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("cdc-hosting-");

    public string Path => System.IO.Path.Combine(_root.FullName, "checkpoint");

    public void Dispose() => _root.Delete(recursive: true);
}
