{
  description = "evbench: EV-charging data platform and benchmark harness";
  # `nix develop` gives the toolchain and the servers the native provider starts (a modern
  # ClickHouse here, where Debian's is 18.16). Not exercised on the development machines (no Nix).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in {
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = with pkgs; [ rustc cargo clippy rustfmt cmake pkg-config zlib jdk17 maven clickhouse python311 chromium ];
          shellHook = ''
            echo "evbench: ci/setup fetches the Kafka jars; ci/run runs the tests"
          '';
        };
      });
    };
}
