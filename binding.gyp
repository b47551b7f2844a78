# node-gyp entry point, for node-gyp-driven tools (`node-gyp rebuild`, prebuildify, electron-rebuild).
# It compiles nothing itself: its single action runs the CMake build (CMakeLists.txt, via
# cmake-js) and places the addon where node-gyp expects it, so there is one build description.
# The package's own install (scripts/install.mjs) and prebuilt (scripts/prebuild.mjs) do not use it.
{
  "targets": [
    {
      "target_name": "asdkit",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_build",
          "inputs": ["CMakeLists.txt", "<!@(node scripts/native-sources.mjs)"],
          "outputs": ["<(PRODUCT_DIR)/asdkit.node"],
          "action": ["node", "scripts/build-native.mjs", "--dest", "<(PRODUCT_DIR)"]
        }
      ]
    }
  ]
}
