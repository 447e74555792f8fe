# Envoy's API protos, compiled from the pinned npm package @grpc/grpc-js-xds (see package-lock.json).
#
# Only the import closure of the roots below is compiled, not the ~600 files the package ships.
# The closure is computed at configure time by following `import` lines.
#
# protoc 3.21 (Debian 12) rejects envoy/config/core/v3/protocol.proto: it sets the PGV rule
# `ignore_empty` on string fields, but the validate.proto shipped next to it does not define that
# field. sluice never evaluates PGV rules, so the build copies each file into the build tree and
# removes the `ignore_empty: true` option from the copy. Nothing under node_modules is edited; the
# message is printed at configure time so the rewrite stays visible.

set(SLUICE_ENVOY_DEPS "${PROJECT_SOURCE_DIR}/node_modules/@grpc/grpc-js-xds/deps")
if(NOT EXISTS "${SLUICE_ENVOY_DEPS}/envoy-api/envoy/service/discovery/v3/ads.proto")
  message(FATAL_ERROR "Envoy protos not found under ${SLUICE_ENVOY_DEPS}. Run scripts/setup.sh "
                      "(it runs `npm ci` with the committed package-lock.json).")
endif()

set(_envoy_include_dirs
  "${SLUICE_ENVOY_DEPS}/envoy-api"
  "${SLUICE_ENVOY_DEPS}/xds"
  "${SLUICE_ENVOY_DEPS}/googleapis"
  "${SLUICE_ENVOY_DEPS}/protoc-gen-validate")

set(SLUICE_ENVOY_ROOTS
  envoy/service/discovery/v3/ads.proto
  envoy/config/listener/v3/listener.proto
  envoy/config/route/v3/route.proto
  envoy/config/cluster/v3/cluster.proto
  envoy/config/endpoint/v3/endpoint.proto
  envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto
  envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto
  envoy/extensions/filters/http/router/v3/router.proto
  envoy/extensions/filters/http/fault/v3/fault.proto
  envoy/extensions/filters/http/cors/v3/cors.proto
  envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto
  envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto
  envoy/extensions/filters/listener/proxy_protocol/v3/proxy_protocol.proto
  envoy/extensions/transport_sockets/tls/v3/tls.proto
  envoy/extensions/upstreams/http/v3/http_protocol_options.proto)

set(_envoy_out "${CMAKE_BINARY_DIR}/envoy_protos")
set(_envoy_gen "${CMAKE_BINARY_DIR}/gen")
file(MAKE_DIRECTORY "${_envoy_out}" "${_envoy_gen}")

set(_queue ${SLUICE_ENVOY_ROOTS})
set(_closure "")
set(_rewritten "")
while(_queue)
  list(POP_FRONT _queue _rel)
  if(_rel STREQUAL "" OR _rel IN_LIST _closure OR _rel MATCHES "^google/protobuf/")
    continue()
  endif()
  set(_src "")
  foreach(_dir IN LISTS _envoy_include_dirs)
    if(EXISTS "${_dir}/${_rel}")
      set(_src "${_dir}/${_rel}")
      break()
    endif()
  endforeach()
  if(NOT _src)
    message(FATAL_ERROR "envoy protos: cannot resolve import ${_rel}")
  endif()
  list(APPEND _closure "${_rel}")
  file(READ "${_src}" _text)
  string(REGEX MATCHALL "\nimport (public )?\"[^\"]+\";" _imports "\n${_text}")
  foreach(_imp IN LISTS _imports)
    string(REGEX REPLACE ".*\"([^\"]+)\".*" "\\1" _imp "${_imp}")
    list(APPEND _queue "${_imp}")
  endforeach()
  set(_fixed "${_text}")
  string(REGEX REPLACE "[ \t\n]*ignore_empty: true" "" _fixed "${_fixed}")
  if(NOT _fixed STREQUAL _text)
    list(APPEND _rewritten "${_rel}")
  endif()
  set(_dst "${_envoy_out}/${_rel}")
  set(_old "")
  if(EXISTS "${_dst}")
    file(READ "${_dst}" _old)
  endif()
  if(NOT _old STREQUAL _fixed)
    file(WRITE "${_dst}" "${_fixed}")   # only when changed, so ccache and ninja stay warm
  endif()
endwhile()
list(SORT _closure)
list(LENGTH _closure _count)
message(STATUS "envoy protos: ${_count} files in the import closure of ${SLUICE_ENVOY_ROOTS}")
if(_rewritten)
  message(STATUS "envoy protos: removed the PGV option `ignore_empty` (unknown to protoc 3.21) from "
                 "the build-tree copies of: ${_rewritten}")
endif()

set(_srcs "")
set(_hdrs "")
foreach(_rel IN LISTS _closure)
  string(REGEX REPLACE "\\.proto$" "" _stem "${_rel}")
  list(APPEND _srcs "${_envoy_gen}/${_stem}.pb.cc")
  list(APPEND _hdrs "${_envoy_gen}/${_stem}.pb.h")
endforeach()
set(_grpc_srcs "${_envoy_gen}/envoy/service/discovery/v3/ads.grpc.pb.cc")
set(_grpc_hdrs "${_envoy_gen}/envoy/service/discovery/v3/ads.grpc.pb.h")

# One protoc run for the whole closure: much faster than one process per file.
add_custom_command(
  OUTPUT ${_srcs} ${_hdrs} ${_grpc_srcs} ${_grpc_hdrs}
  COMMAND protobuf::protoc -I "${_envoy_out}" --cpp_out "${_envoy_gen}" ${_closure}
  COMMAND protobuf::protoc -I "${_envoy_out}" --grpc_out "${_envoy_gen}"
          --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>
          envoy/service/discovery/v3/ads.proto
  DEPENDS protobuf::protoc gRPC::grpc_cpp_plugin ${CMAKE_CURRENT_LIST_FILE}
          ${SLUICE_PROJECT_LOCK}
  WORKING_DIRECTORY "${_envoy_out}"
  COMMENT "protoc: ${_count} Envoy API protos"
  VERBATIM)

add_library(sluice_envoy_proto STATIC ${_srcs} ${_grpc_srcs})
target_include_directories(sluice_envoy_proto SYSTEM PUBLIC "${_envoy_gen}")
target_link_libraries(sluice_envoy_proto PUBLIC protobuf::libprotobuf gRPC::grpc++)
# Generated code: no warnings from it, and no debug info (it is large and never stepped through).
target_compile_options(sluice_envoy_proto PRIVATE -w -g0)
set(SLUICE_ENVOY_PROTO_DIR "${_envoy_out}" CACHE INTERNAL "")
