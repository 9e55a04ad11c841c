using Microsoft.Extensions.Options;

namespace Cdc.Checkpoint.Hosting.Stores;

internal sealed class FileCheckpointStoreOptionsValidator(IEnumerable<ConfigurationKeys> keys) : IValidateOptions<FileCheckpointStoreOptions>
{
    public ValidateOptionsResult Validate(string? name, FileCheckpointStoreOptions options)
    {
        var key = ConfigurationKeys.For<FileCheckpointStoreOptions>(keys, name);
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Directory))
        {
            errors.Add($"File checkpoint store '{name}': {key.Of(nameof(options.Directory))} is required: the directory that holds the checkpoint (one directory per consumer).");
        }

        if (options.MaxRecordBytes <= 0)
        {
            errors.Add($"File checkpoint store '{name}': {key.Of(nameof(options.MaxRecordBytes))} must be positive, not {options.MaxRecordBytes}.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
