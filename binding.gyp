{
  "targets": [
    {
      "target_name": "lmforge",
      "sources": ["<!@(node scripts/list-native-sources.mjs)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native/src"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fno-trapping-math", "-pthread", "-Wall", "-Wno-unused-function"],
      "ldflags": ["-pthread"]
    }
  ]
}
