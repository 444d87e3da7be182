{
  description = "evbench: EV-charging data platform (sensors -> Kafka -> sessions -> ClickHouse -> Grafana) and benchmark harness";

  # The only input. flake.lock pins it to one nixos-unstable revision (README, "With Nix or
  # Docker"). Checked on the project's machines (ci/check-user-files, in ci/run): this file
  # parses (`nix-instantiate --parse`) and flake.lock is a complete lock for it. Not run there:
  # `nix build`, `nix flake check`, `nix develop` (no Nix store, no network).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      lib = nixpkgs.lib;

      # evbench itself is built and tested on Linux. The development shell is offered on macOS
      # too, with what nixpkgs has there (no Chromium on macOS; x86_64-darwin only while the
      # pinned nixpkgs still has it).
      linuxSystems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      shellSystems = lib.filter (system: nixpkgs.legacyPackages ? ${system}) (
        linuxSystems
        ++ [
          "aarch64-darwin"
          "x86_64-darwin"
        ]
      );
      forSystems = systems: f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      cargoToml = lib.importTOML ./Cargo.toml;

      # The Kafka release the harness expects (ci/kafka/pom.xml; harness::KAFKA_VERSION).
      kafkaVersion =
        let
          lines = lib.splitString "\n" (builtins.readFile ./ci/kafka/pom.xml);
          matches = lib.filter (m: m != null) (
            map (builtins.match ".*<kafka\\.version>([^<]+)</kafka\\.version>.*") lines
          );
        in
        if matches == [ ] then
          throw "flake.nix: no <kafka.version> in ci/kafka/pom.xml"
        else
          builtins.head (builtins.head matches);
      # Hash of kafka_2.13-4.1.1.tgz, as nixpkgs' own apache-kafka/4_1.nix records it. Used only
      # when the pinned nixpkgs carries another 4.1.x; a new pom version needs a new hash here.
      kafkaTarballHash = {
        "4.1.1" = "sha256-eR6O5plpgtgFWCk2eoA5H5TBvKcymy+7ZYv8IRp3Ry4=";
      };

      # Apache Kafka of the 4.x line from nixpkgs, at the release the harness pins where nixpkgs
      # has it or kafkaTarballHash holds its tarball's hash, else nixpkgs' own release.
      kafkaFor =
        pkgs:
        let
          # apacheKafka_4_1 where nixpkgs still has it (a removed attribute may be an alias that
          # throws), else its newest Kafka (4.x).
          series = builtins.tryEval (pkgs.apacheKafka_4_1 or null);
          fromNixpkgs = if series.success && series.value != null then series.value else pkgs.apacheKafka;
        in
        if lib.hasSuffix "-${kafkaVersion}" fromNixpkgs.version then
          fromNixpkgs
        else if kafkaTarballHash ? ${kafkaVersion} then
          fromNixpkgs.overrideAttrs (_: {
            version = "2.13-${kafkaVersion}";
            src = pkgs.fetchurl {
              url = "mirror://apache/kafka/${kafkaVersion}/kafka_2.13-${kafkaVersion}.tgz";
              hash = kafkaTarballHash.${kafkaVersion};
            };
          })
        else
          # No hash for the pinned release here: run nixpkgs' own Kafka rather than none. The
          # harness reads the release from the server jar, so reports say which one ran.
          builtins.trace
            "flake.nix: ci/kafka/pom.xml pins Kafka ${kafkaVersion}, nixpkgs has ${fromNixpkgs.version} and kafkaTarballHash no hash for the pin: nix develop runs nixpkgs' release"
            fromNixpkgs;

      # Integration-test targets (crates/*/tests/*.rs) that start no Kafka and no ClickHouse.
      # Every other target there starts real servers (harness::Services, NativeKafka,
      # NativeClickHouse, or `evbench run` with services), which the build sandbox does not
      # have: those run in ci/run, or in `nix develop` with `cargo test`.
      serviceFreeTests = [
        "properties" # aggregator, simulator
        "rules" # aggregator
        "simulator" # aggregator against the simulator's ground truth
        "statistics" # simulator
        "simulate_cli" # evbench simulate / sessionize, files only
        "cli_contract" # exit codes and bad input of every command, no server
      ];

      evbenchFor =
        pkgs:
        pkgs.rustPlatform.buildRustPackage {
          pname = "evbench";
          version = cargoToml.workspace.package.version;

          src = lib.fileset.toSource {
            root = ./.;
            # What the build and the tests read: unit tests open ci/kafka/pom.xml and
            # scenarios/, the schema tests grafana/ and ci/chdb_conformance.py.
            fileset = lib.fileset.unions [
              ./Cargo.toml
              ./Cargo.lock
              ./crates
              ./ci
              ./scenarios
              ./grafana
            ];
          };
          cargoLock.lockFile = ./Cargo.lock;

          # rdkafka (default-features off; `tokio`, `libz`) builds its bundled librdkafka with
          # librdkafka's own mklove `./configure` (bash) and `make libs`, which runs
          # `lds-gen.py` (python3) for the linker script; `which` finds `install`; libz-sys
          # finds zlib through pkg-config; the `ssl` feature links the system's OpenSSL (TLS,
          # and SCRAM for SASL). No cmake (that is rdkafka's `cmake-build` feature), no Cyrus
          # SASL or zstd (features off).
          nativeBuildInputs = with pkgs; [
            pkg-config
            python3
            which
          ];
          buildInputs = [ pkgs.zlib pkgs.openssl ];

          # The vendored crates are copied without shebang patching: `./configure` and
          # `lds-gen.py` start with `#!/usr/bin/env …`, which the build sandbox lacks.
          postPatch = ''
            for dir in "$cargoDepsCopy"/rdkafka-sys-*/librdkafka; do
              patchShebangs "$dir/configure" "$dir/lds-gen.py"
            done
          '';

          cargoBuildFlags = [
            "--package"
            "evbench"
          ];
          # Unit tests of every crate and the service-free integration tests (above).
          cargoTestFlags = [
            "--workspace"
            "--lib"
            "--bins"
          ]
          ++ lib.concatMap (name: [
            "--test"
            name
          ]) serviceFreeTests;

          meta = {
            description = "EV-charging data platform and benchmark harness on real Kafka and ClickHouse";
            license = lib.licenses.asl20;
            mainProgram = "evbench";
            platforms = lib.platforms.linux;
          };
        };

      devShellFor =
        pkgs:
        let
          kafka = kafkaFor pkgs;
          available = lib.filter (lib.meta.availableOn pkgs.stdenv.hostPlatform);
        in
        pkgs.mkShell {
          packages = available (
            with pkgs;
            [
              # Rust (the workspace's rust-version 1.89 or later: Cargo.toml).
              rustc
              cargo
              clippy
              rustfmt
              # What the rdkafka build needs (zlib is below, as a library).
              pkg-config
              python3
              which
              # Servers the native provider starts, and the tools of ci/setup and the tests.
              jdk17
              maven
              kafka
              clickhouse
              grafana
              chromium
              # Every node on its own address: namespaces, partitions, slow links (root only).
              iproute2
              nftables
              # A secured run's certificates.
              openssl
            ]
          );
          buildInputs = [ pkgs.zlib pkgs.openssl ];

          # The harness takes Kafka's jars from here (ci/setup then fetches nothing).
          EVBENCH_KAFKA_LIBS = "${kafka}/libs";

          shellHook = ''
            echo "evbench dev shell: Kafka ${kafka.version} (EVBENCH_KAFKA_LIBS), $(clickhouse --version 2>/dev/null | head -1 || echo 'no ClickHouse on this platform')"
            echo "  ci/setup checks the tools; cargo run --release -p evbench -- run scenarios/quickstart.toml --out out/quickstart"
          '';
        };
    in
    {
      packages = forSystems linuxSystems (pkgs: rec {
        evbench = evbenchFor pkgs;
        default = evbench;
      });

      apps = lib.genAttrs linuxSystems (system: {
        default = {
          type = "app";
          program = lib.getExe self.packages.${system}.evbench;
          meta.description = "evbench command line (run, validate, services, simulate, sessionize, aggregate, schema, sink)";
        };
      });

      # `nix flake check`: builds evbench and runs its service-free tests (the package's
      # checkPhase, filtered by serviceFreeTests).
      checks = lib.genAttrs linuxSystems (system: {
        evbench = self.packages.${system}.evbench;
      });

      devShells = forSystems shellSystems (pkgs: {
        default = devShellFor pkgs;
      });
    };
}
