using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Hosting.Stores;
using Cdc.Checkpoint.Hosting;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

#pragma warning disable IDE0130 // Extension methods live in the namespace of what they extend, as Microsoft.Extensions.* do.
namespace Microsoft.Extensions.DependencyInjection;
#pragma warning restore IDE0130

/// <summary>
/// Registers named checkpoint stores: each is a keyed singleton <see cref="Cdc.Checkpoint.ICheckpointStore"/> (key = the
/// name), created on first use and disposed with the container (which releases a file checkpoint's owner lease). A
/// hosted consumer refers to its store by that name.
/// </summary>
public static class CheckpointStoreServiceCollectionExtensions
{
    /// <summary>Registers a <see cref="FileCheckpoint"/> named <paramref name="name"/>, its options bound from <paramref name="configuration"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The store name (the service key).</param>
    /// <param name="configuration">The section holding <see cref="FileCheckpointStoreOptions"/> (for example <c>Cdc:Stores:orders</c>).</param>
    /// <param name="configure">Further configuration in code, applied after binding (for example the codecs).</param>
    /// <returns>The services, for chaining.</returns>
    /// <exception cref="InvalidOperationException">A store named <paramref name="name"/> is already registered.</exception>
    /// <remarks>
    /// The options are validated when the host starts; a missing <c>Directory</c> stops the start with a message naming
    /// the key. Records are read with the <see cref="OffsetCodecRegistry"/> registered under the store's name (a keyed
    /// singleton), else the one registered without a key, else as generic offsets.
    /// </remarks>
    public static IServiceCollection AddCdcFileCheckpointStore(this IServiceCollection services, string name, IConfiguration configuration, Action<FileCheckpointStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return AddFileStore(services, name, configuration, configure);
    }

    /// <summary>Registers a <see cref="FileCheckpoint"/> named <paramref name="name"/>, configured in code.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The store name (the service key).</param>
    /// <param name="configure">Sets the options (at least <see cref="FileCheckpointStoreOptions.Directory"/>).</param>
    /// <returns>The services, for chaining.</returns>
    /// <exception cref="InvalidOperationException">A store named <paramref name="name"/> is already registered.</exception>
    public static IServiceCollection AddCdcFileCheckpointStore(this IServiceCollection services, string name, Action<FileCheckpointStoreOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return AddFileStore(services, name, null, configure);
    }

    /// <summary>Registers an in-memory checkpoint store named <paramref name="name"/> (tests and demos: nothing survives the process).</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The store name (the service key).</param>
    /// <returns>The services, for chaining.</returns>
    /// <exception cref="InvalidOperationException">A store named <paramref name="name"/> is already registered.</exception>
    public static IServiceCollection AddCdcInMemoryCheckpointStore(this IServiceCollection services, string name) =>
        services.AddCdcCheckpointStore(name, sp => new Cdc.Checkpoint.InMemoryCheckpoint(sp.GetService<ILoggerFactory>(), sp.GetService<TimeProvider>()));

    /// <summary>
    /// Registers a checkpoint store named <paramref name="name"/> built by <paramref name="factory"/>: any
    /// <see cref="Cdc.Checkpoint.ICheckpointStore"/>, for example a MySQL table store or a manifest store adapter.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The store name (the service key).</param>
    /// <param name="factory">Creates the store once, on first use; if it is disposable, the container disposes it.</param>
    /// <returns>The services, for chaining.</returns>
    /// <exception cref="InvalidOperationException">A store named <paramref name="name"/> is already registered.</exception>
    public static IServiceCollection AddCdcCheckpointStore(this IServiceCollection services, string name, Func<IServiceProvider, Cdc.Checkpoint.ICheckpointStore> factory)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(factory);
        if (services.Any(d => d.IsKeyedService && d.ServiceType == typeof(Cdc.Checkpoint.ICheckpointStore) && Equals(d.ServiceKey, name)))
        {
            throw new InvalidOperationException($"A checkpoint store named '{name}' is already registered; give each store its own name.");
        }

        services.AddKeyedSingleton(name, (sp, _) => factory(sp));
        return services;
    }

    // Records load as typed offsets with the codecs registered for this store (keyed by its name), else with those
    // registered for every store, else as generic offsets.
    private static OffsetCodecRegistry CodecsFor(IServiceProvider services, string name) =>
        services.GetKeyedService<OffsetCodecRegistry>(name) ?? services.GetService<OffsetCodecRegistry>() ?? OffsetCodecRegistry.Empty;

    private static IServiceCollection AddFileStore(IServiceCollection services, string name, IConfiguration? configuration, Action<FileCheckpointStoreOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        // The binding is written out per options type: the configuration binding source generator needs the type at the call.
        ValidatedOptions.Add<FileCheckpointStoreOptions, FileCheckpointStoreOptionsValidator>(services, name, configuration, configure, static (builder, section) => builder.Bind(section));
        return services.AddCdcCheckpointStore(name, sp =>
        {
            var options = sp.GetRequiredService<IOptionsMonitor<FileCheckpointStoreOptions>>().Get(name);
            var directory = Path.GetFullPath(options.Directory!);
            if (options.CreateDirectory && Path.GetDirectoryName(directory) is { } parent && !System.IO.Directory.Exists(parent))
            {
                // FileCheckpoint creates the directory itself (durably, 0700) but not its parents.
                if (OperatingSystem.IsWindows())
                {
                    System.IO.Directory.CreateDirectory(parent);
                }
                else
                {
                    System.IO.Directory.CreateDirectory(parent, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                }
            }

            return new FileCheckpoint(
                directory,
                new FileCheckpointOptions { CreateDirectory = options.CreateDirectory, MaxRecordBytes = options.MaxRecordBytes, Codecs = CodecsFor(sp, name) },
                sp.GetService<ILoggerFactory>(),
                sp.GetService<TimeProvider>());
        });
    }
}
